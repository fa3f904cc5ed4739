"""The model family registry drives the command line, the macros' lists and prediction."""

import dataclasses

import pytest

from pyfiji_dl import families
from pyfiji_dl.cli import build_parser, main
from pyfiji_dl.families.base import default_text


def parse(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def test_registry_lists_every_family_once_in_menu_order():
    assert families.names() == ("stardist", "unet", "care", "n2v")
    for name, family in families.REGISTRY.items():
        assert family.name == name and families.get(name) is family
        assert dataclasses.is_dataclass(family.options_class)
        assert family.title and family.task and family.menu_label and family.help and family.description
    with pytest.raises(families.UnknownFamilyError, match="known: stardist, unet, care, n2v"):
        families.get("cellpose")


@pytest.mark.parametrize("name", ["stardist", "unet", "care", "n2v"])
def test_adapter_declares_its_family_and_outputs(name):
    adapter = families.get(name).adapter()
    assert adapter.FAMILY == name
    assert adapter.OUTPUTS in ("labels", "semantic", "restored")


@pytest.mark.parametrize("name", ["stardist", "unet", "care", "n2v"])
def test_command_line_defaults_are_the_options_dataclass_defaults(name):
    family = families.get(name)
    args = parse("train", name, "--data", "d", "--model", "m")
    assert family.options_from_args(args) == family.options_class()
    args = parse("train", name, "--data", "d", "--model", "m", "--lr", "0.01", "--epochs", "7", "--no-augment")
    options = family.options_from_args(args)
    assert (options.lr, options.epochs, options.augment) == (0.01, 7, False)
    # the learning rate is left to the training plan (None); its help shows the published default the
    # plan uses, so the two cannot disagree
    assert family.default("lr") is None
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if a.dest == "family")
    lr_help = next(a.help for a in train.choices[name]._actions if a.dest == "lr")
    assert f"(default {default_text(family.published_default('lr'))})" in lr_help


def test_family_specific_translations():
    unet, stardist = families.get("unet"), families.get("stardist")
    assert unet.options_from_args(parse("train", "unet", "--data", "d", "--model", "m", "--patience", "0")).patience is None
    assert unet.options_from_args(parse("train", "unet", "--data", "d", "--model", "m")).patience == 20
    assert stardist.options_from_args(parse("train", "stardist", "--data", "d", "--model", "m", "--grid", "4")).grid == 4
    assert stardist.options_from_args(parse("train", "stardist", "--data", "d", "--model", "m",
                                            "--grid", "1,2")).grid == (1, 2)
    care = families.get("care")
    assert care.options_from_args(parse("train", "care", "--data", "d", "--model", "m")).batch is None  # planned
    assert care.options_from_args(parse("train", "care", "--data", "d", "--model", "m", "--batch", "8")).batch == 8


def test_families_command_and_the_macros_config(tmp_path, capsys):
    from pyfiji_dl.fiji.install import config_text

    assert main(["families"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(families.names())
    assert all(line.split("\t")[1] for line in lines)
    config = dict(line.split("=", 1) for line in config_text(tmp_path / "pyfiji-dl").splitlines())
    assert config["families"].split("|") == list(families.names())
    assert config["family_labels"].split("|") == [f.menu_label for f in families.REGISTRY.values()]


def test_model_of_an_unknown_family_is_a_clear_error(tmp_path):
    (tmp_path / "pyfiji_dl.json").write_text('{"family": "cellpose", "ndim": 2}')
    with pytest.raises(families.UnknownFamilyError, match="cellpose.*update pyfiji_dl"):
        families.of_model(tmp_path)


# training_options as provenance.json recorded them before the families' options shared a base class
SAVED_OPTION_ORDER = {
    "stardist": ["epochs", "steps", "patch", "batch", "rays", "grid", "lr", "depth", "filters", "seed", "augment",
                 "max_minutes", "extra"],
    "unet": ["epochs", "steps", "patch", "batch", "lr", "filters", "depth", "dropout", "loss", "focal_gamma",
             "focal_alpha", "w0", "sigma", "contrast", "patience", "threshold", "min_area", "max_area",
             "split_touching", "seed", "augment", "max_minutes"],
    "care": ["epochs", "steps", "patch", "batch", "lr", "depth", "kernel", "filters", "patches_per_image",
             "probabilistic", "seed", "augment", "max_minutes"],
    "n2v": ["epochs", "steps", "patch", "batch", "lr", "depth", "filters", "perc_pix", "radius", "seed", "augment",
            "max_minutes"],
}


@pytest.mark.parametrize("name", ["stardist", "unet", "care", "n2v"])
def test_options_share_a_base_and_are_saved_as_before(name):
    from pyfiji_dl.families.base import TrainingOptions

    options_class = families.get(name).options_class
    assert issubclass(options_class, TrainingOptions)
    shared = {f.name for f in dataclasses.fields(TrainingOptions)}
    assert not shared & set(vars(options_class).get("__annotations__", {}))  # declared once, in the base
    saved = options_class(epochs=3, seed=7).saved()
    assert list(saved) == SAVED_OPTION_ORDER[name]
    assert saved["epochs"] == 3 and saved["seed"] == 7


def test_export_has_no_family_name_branches():
    """A new family is described by its own module: the export package never compares family names."""
    import re
    from pathlib import Path

    import pyfiji_dl.export

    branch = re.compile(r"""family\)?\s*(==|!=|in|not in)\s*[("']""")
    found = [f"{path.name}:{number}" for path in Path(pyfiji_dl.export.__file__).parent.glob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1) if branch.search(line)]
    assert found == []
