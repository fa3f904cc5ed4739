"""The model family registry drives the command line, the macros' lists and prediction."""

import dataclasses

import pytest

from pyfiji_dl import families
from pyfiji_dl.cli import build_parser, main
from pyfiji_dl.families.base import LEADING_OPTIONS, TRAILING_OPTIONS, Family, TrainingOptions, default_text
from pyfiji_dl.models.budget import PublishedDefaults, TrainingProfile, plan_options


def parse(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def test_registry_lists_every_family_once_in_menu_order():
    assert families.names() == ("stardist", "unet", "care", "n2v")
    for name, family in families.REGISTRY.items():
        assert family.name == name and families.get(name) is family
        assert dataclasses.is_dataclass(family.options_class)
        assert family.title and family.task and family.menu_label and family.help and family.description
    with pytest.raises(families.UnknownFamilyError, match="known: " + ", ".join(families.names())):
        families.get("cellpose")


@pytest.mark.parametrize("name", families.names())
def test_adapter_declares_its_family_and_outputs(name):
    adapter = families.get(name).adapter()
    assert adapter.FAMILY == name
    assert adapter.OUTPUTS in ("labels", "semantic", "restored")


@pytest.mark.parametrize("name", families.names())
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
# (a family added since saves the base's order: shared schedule, its own options, seed, augmentation, budget)
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


@pytest.mark.parametrize("name", families.names())
def test_options_share_a_base_and_are_saved_as_before(name):
    from pyfiji_dl.families.base import TrainingOptions

    options_class = families.get(name).options_class
    assert issubclass(options_class, TrainingOptions)
    shared = {f.name for f in dataclasses.fields(TrainingOptions)}
    assert not shared & set(vars(options_class).get("__annotations__", {}))  # declared once, in the base
    saved = options_class(epochs=3, seed=7).saved()
    if name in SAVED_OPTION_ORDER:
        assert list(saved) == SAVED_OPTION_ORDER[name]
    else:
        assert tuple(saved)[:len(LEADING_OPTIONS)] == LEADING_OPTIONS
        assert tuple(saved)[-len(TRAILING_OPTIONS):] == TRAILING_OPTIONS
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


@pytest.mark.parametrize("name", families.names())
def test_each_family_declares_its_training_profile(name):
    """The training plan reads what a family declares (models/budget.py has no table keyed by name)."""
    family = families.get(name)
    profile = family.training_profile
    assert isinstance(profile, TrainingProfile) and profile.family == name
    assert 2 in profile.published and set(profile.published) <= {2, 3}
    assert family.published_default("lr") == profile.defaults(2).lr


# --- a fifth family: its declaration and one registry entry are all the command line and macros need ---

@dataclasses.dataclass
class ToyOptions(TrainingOptions):
    width: int = 8

    training_profile = TrainingProfile(
        family="toy", published={2: PublishedDefaults(patch=(32, 32), batch=2, steps=10, epochs=5, lr=1e-3)},
        divisor=8, core_seconds_per_pixel=1e-5)


class Toy(Family):
    name = "toy"
    title = "Toy"
    task = "nothing: a test's throwaway family"
    menu_label = "Toy (a test's family)"
    help = "the throwaway family of a test"
    description = "Train the throwaway family of a test."
    options_class = ToyOptions
    export_task = "nothing"
    task_tag = "toy"

    def add_options(self, parser) -> None:
        parser.add_argument("--lr", type=float, help=f"learning rate (default {default_text(self.published_default('lr'))})")
        parser.add_argument("--width", type=int, help=f"width (default {self.default('width')})")


@pytest.fixture
def toy(monkeypatch):
    """The toy family registered for one test, as its line in MODULES would register it."""
    family = Toy()
    monkeypatch.setitem(families.REGISTRY, family.name, family)
    return family


def test_a_registered_family_is_in_the_command_line_the_macros_and_the_plans(toy, tmp_path, capsys):
    from pyfiji_dl.fiji.install import build_jython_script, config_text

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "toy", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Train the throwaway family of a test." in text
    assert "learning rate (default 1e-3)" in text and "5 without a limit" in text and "10 on a GPU" in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "toy (nothing: a test's throwaway family)" in capsys.readouterr().out
    options = toy.options_from_args(parse("train", "toy", "--data", "d", "--model", "m", "--width", "4"))
    assert options == ToyOptions(width=4)

    assert main(["families"]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [name for name, _ in listed] == list(families.names()) and ["toy", toy.menu_label] in listed
    config = dict(line.split("=", 1) for line in config_text(tmp_path / "pyfiji-dl").splitlines())
    assert config["families"].split("|")[-1] == "toy"
    assert config["family_labels"].split("|")[-1] == toy.menu_label
    assert '"toy"}' in build_jython_script("train.py").splitlines()[0]

    # the training plan comes from the toy's profile: no table in models/budget.py names it
    planned, plan = plan_options(options.training_profile, ToyOptions(max_minutes=1), [(100, 120)],
                                 device="cpu", n_cores=2)
    assert plan.family == "toy" and (planned.patch, planned.batch, planned.lr) == ((32, 32), 2, 1e-3)
    assert 1 <= planned.steps <= 10 and "toy" in plan.summary()
