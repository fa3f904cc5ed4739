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
