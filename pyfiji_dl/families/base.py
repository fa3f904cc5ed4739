"""What every model family declares, and the training bookkeeping they share.

A family module (``stardist.py``, ``unet.py``, ``care.py``, ``n2v.py`` in this
package) subclasses :class:`Family`: its options dataclass (owning the defaults the
command line shows, and the training profile the time-budget plan reads:
:class:`~pyfiji_dl.models.budget.TrainingProfile`), its training-data layout and loader, the training run
(check the data, train with its adapter in :mod:`pyfiji_dl.models`, then QC report
and provenance), evaluation on data with ground truth, the label of its Fiji
menu entry, and how its exported packages and Fiji zips are described (network,
pre/postprocessing, macros, citations, plugin settings; :mod:`.exporting`). What it
produces when predicting is declared by its adapter (``OUTPUTS``), because prediction
sits below this package.

This package is the "workflows" layer: it imports models, prediction and qc, and
is imported by the command line and the Fiji integration only. Family modules
must stay cheap to import (``pyfiji-dl --help`` builds its parsers from them):
TensorFlow, NumPy and the layers below are imported inside the methods.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import MISSING, asdict, dataclass, fields
from typing import ClassVar
from pathlib import Path

from ..models.budget import TrainingProfile

log = logging.getLogger(__name__)

# Papers several families cite (each family is built on the U-Net).
UNET_PAPER = ("Ronneberger, Fischer, Brox. U-Net: Convolutional Networks for Biomedical Image Segmentation. "
              "MICCAI 2015.", "10.1007/978-3-319-24574-4_28")


# Saved first and last in provenance.json's training_options, around a family's own options.
LEADING_OPTIONS = ("epochs", "steps", "patch", "batch", "lr")
TRAILING_OPTIONS = ("seed", "augment", "max_minutes")


@dataclass
class TrainingOptions:
    """The training options every family takes; a family's options dataclass adds its own.

    ``epochs``, ``steps``, ``patch``, ``batch`` and ``lr`` None are planned for the
    device, the data and ``max_minutes`` (:mod:`pyfiji_dl.models.budget`) from the family's
    ``training_profile`` (a class attribute each family's options declare: its published
    defaults, step cost and patch rules; the adapter passes it to the plan).

    Attributes
    ----------
    epochs, steps : int, optional
        Epochs in total and steps (batches) per epoch.
    patch : tuple of int, optional
        Training patch.
    batch : int, optional
        Batch size.
    lr : float, optional
        Learning rate (Adam).
    seed : int
        Seed of the validation split, patches and augmentation.
    augment : bool
        Flips, 90-degree rotations (and, where the family has it, intensity changes).
    max_minutes : float, optional
        Time budget: no epoch starts that would end after it (``--resume`` continues).
    """

    epochs: int | None = None
    steps: int | None = None
    patch: tuple | None = None
    batch: int | None = None
    lr: float | None = None
    seed: int = 42
    augment: bool = True
    max_minutes: float | None = None

    # What the training plan needs to know about the family (declared by each family's options).
    training_profile: ClassVar[TrainingProfile]

    # The order of the saved options (None: the shared schedule, the family's own options, then seed,
    # augmentation and budget), kept as provenance files were written before the options shared this base.
    saved_order: ClassVar[tuple | None] = None

    def saved(self) -> dict:
        """The options as provenance.json records them (``training_options``)."""
        values = asdict(self)
        order = self.saved_order or (LEADING_OPTIONS + tuple(k for k in values if k not in LEADING_OPTIONS
                                                              and k not in TRAILING_OPTIONS) + TRAILING_OPTIONS)
        return {key: values[key] for key in order}


@dataclass
class TrainingOutcome:
    """What a training run leaves behind, for the command line to report."""

    model_dir: Path
    report: Path | None
    provenance: Path
    thresholds: dict | None
    fit_warnings: list


def sizes(text: str) -> tuple:
    """``argparse`` type of patch and grid sizes: ``256``, ``256,256`` or ``48x96x96``."""
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 256 or 256,256") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive")
    return values


def default_text(value) -> str:
    """A default as the help texts write it: ``3e-4`` rather than ``0.0003``."""
    if isinstance(value, float) and 0 < abs(value) < 0.01:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


class Family:
    """One model family: the single place that says what the rest of pyfiji_dl needs to know.

    Attributes
    ----------
    name : str
        Command-line word and the model card's ``family`` (``pyfiji-dl train NAME``).
    title : str
        Human name in reports and messages.
    task : str
        What its models do, in a few words (``pyfiji-dl train --help``).
    menu_label : str
        The family's entry in the Fiji dialogs' model-type choice.
    help, description : str
        ``pyfiji-dl train --help`` line and ``train NAME --help`` text.
    options_class : type
        Dataclass of the training options; its field defaults are the family's
        defaults (the command line passes only what the user gave), and its
        ``training_profile`` the published defaults and step cost the training plan uses.
    export_task, task_tag : str
        What the model does, in an exported package's description, and its bioimage.io tag.
    fiji_plugin : str or None
        The Fiji plugin that runs its exported zip: ``"stardist"`` (StarDist's, 2D) or
        ``"csbdeep"`` (CSBDeep's "Run your network"); ``pyfiji-dl export --format fiji-...``.
    learns_from_corrected_objects : bool
        Whether objects corrected in Fiji can fine-tune its models (``pyfiji-dl fine-tune``).
    data_help, val_help, channel_help, seed_help, augment_help, max_minutes_help, from_help : str
        Help of the training options every family shares, in this family's words.
    """

    name: str
    title: str
    task: str
    menu_label: str
    help: str
    description: str
    options_class: type
    export_task: str
    task_tag: str
    fiji_plugin: str | None = None
    learns_from_corrected_objects = False
    data_help = "training data folder"
    val_help = "separate validation folder of the same layout"
    channel_help = "1-based channel of multichannel images"
    seed_help = "seed of the validation split and patches"
    augment_help = "no flips/rotations"
    max_minutes_help = ("time budget: the training defaults are planned to converge within it and no epoch "
                        "starts that would end after it")
    from_help = "fine-tune: start from this model folder's weights"

    # --- command line -------------------------------------------------------------------

    def default(self, option: str):
        """The default of one training option (from the options dataclass)."""
        field = next(f for f in fields(self.options_class) if f.name == option)
        return field.default if field.default is not MISSING else field.default_factory()

    @property
    def training_profile(self) -> TrainingProfile:
        """What the training plan needs to know about the family (its options' ``training_profile``)."""
        return self.options_class.training_profile

    def published_default(self, option: str):
        """The value of a planned option (epochs, steps, patch, batch, lr) in the family's
        documentation (2D, GPU, no budget); the options dataclass leaves it None to be planned."""
        return getattr(self.training_profile.defaults(2), option)

    def add_options(self, parser) -> None:
        """Add the family's own options to its ``train NAME`` parser (defaults stay None)."""

    def options_from_args(self, args):
        """The options dataclass from parsed arguments; options not given keep the family's default."""
        values = {f.name: getattr(args, f.name) for f in fields(self.options_class) if hasattr(args, f.name)}
        values["augment"] = not args.no_augment
        given = {k: v for k, v in values.items() if v is not None}
        return self.options_class(**self._adjust_options(given, args))

    def _adjust_options(self, values: dict, args) -> dict:
        """Family-specific translation of the values given (e.g. 0 meaning "never")."""
        return values

    # --- data, training, evaluation ------------------------------------------------------

    def load_data(self, data, *, val=None, seed: int = 42, channel: int | None = None):
        """Load and check the training data (every problem named); raises before anything trains."""
        raise NotImplementedError

    def train(self, data, model_dir, options, *, val=None, channel: int | None = None, resume: bool = False,
              from_model=None, progress: bool = True, command_line: list | None = None,
              extra_callbacks: list | None = None, restart: bool = False) -> TrainingOutcome:
        """Check the data, train, then write the QC report and provenance next to the model.

        ``restart`` removes an earlier run's files from ``model_dir`` first (see
        :func:`check_start` and :func:`train_adapter`, which every family's run uses).
        """
        raise NotImplementedError

    def evaluate(self, model_dir, data, out_dir, *, channel: int | None = None) -> Path:
        """Predict ``data`` (with ground truth) with the model and write the QC report to ``out_dir``."""
        raise NotImplementedError

    def open_trained(self, model_dir) -> tuple:
        """The card, adapter and loaded model of a trained model folder (what evaluation starts with)."""
        from ..models.card import read_card

        card = read_card(model_dir)
        adapter = self.adapter()
        return card, adapter, adapter.load_model(model_dir)

    def citations(self, ndim: int) -> list:
        """The papers of the method, ``[(text, doi)]``, cited by exported packages."""
        return list(self.references)

    references: tuple = ()

    # --- export (pyfiji_dl.export; ``exportable`` is an export.network.ExportableModel) ----------
    # What the exported network's output holds (rdf and README); the default is an image-to-image network's.
    export_output = "restored image"
    # Whether the README's validation section reads object matching (else restoration metrics).
    scored_by_object_matching = False

    def export_network(self, model) -> tuple:
        """The network exports ship, its output channel names and notes for the user.

        The default ships the Keras model as it is; a family whose network has several
        outputs builds the single output the Fiji plugins and deepImageJ expect.
        """
        network = model.keras_model
        return network, self.output_channel_names(int(network.outputs[0].shape[-1]), model), []

    def output_channel_names(self, n_out: int, model) -> list:
        """Names of the exported output's channels."""
        return ["restored"] if n_out == 1 else [f"restored_{i}" for i in range(n_out)]

    def export_processing(self, exportable):
        """The package's pre/postprocessing (:class:`~pyfiji_dl.families.exporting.Processing`);
        default: percentile normalisation, no postprocessing."""
        from .exporting import percentile_processing

        return percentile_processing(exportable, self.export_postprocessing_text(exportable))

    def export_postprocessing_text(self, exportable) -> str:
        """The postprocessing in words, when the format has no step for it."""
        return "none"

    def prepare_outside_format(self, exportable, raw):
        """Steps before the package's preprocessing that the format cannot express (default: none)."""
        return raw

    def cover_objects(self, exportable, normalised, output):
        """Objects (a label map) for the cover's right half, or None to show the output itself."""
        return None

    def export_config(self, exportable) -> dict:
        """More sections of the rdf's ``config`` (e.g. ``stardist``, read by the family's own tools)."""
        return {}

    def export_thresholds(self, card) -> dict:
        """Thresholds listed in ``config.pyfiji_dl`` (empty: none)."""
        return {}

    def export_loss(self, config) -> str | None:
        """The training loss as the rdf names it."""
        return getattr(config, "train_loss", None)

    def readme_details(self, exportable) -> list:
        """More README lines after the output's description (Markdown)."""
        return []

    def fiji_network(self, exportable):
        """The network the Fiji plugin's zip holds (default: the exported network)."""
        return exportable.network

    def check_fiji_export(self, card, model_dir) -> str | None:
        """Why the family's Fiji plugin cannot run this model (None: it can)."""
        return None

    def fiji_instructions(self, exportable) -> list:
        """What to enter in the Fiji plugin (``fiji_plugin``) that runs the exported zip."""
        from .exporting import csbdeep_instructions

        return csbdeep_instructions(exportable)

    def adapter(self):
        """The family's adapter module in :mod:`pyfiji_dl.models` (imports TensorFlow's stack)."""
        from ..models import adapter_for

        return adapter_for(self.name)

    def __repr__(self) -> str:
        return f"<model family {self.name}>"


def check_start(model_dir, options, *, resume: bool, restart: bool, from_model) -> Path:
    """Everything that can refuse a training start, checked before any data is read or file written.

    Out-of-range options, an incomplete ``--from`` model, nothing to resume, or a folder
    that holds files (with what to do: ``--resume``, ``--restart`` or another folder).

    Returns
    -------
    Path
        ``model_dir``, resolved.
    """
    from ..models import training
    from ..models.completeness import require_complete

    if resume and restart:
        raise training.TrainingOptionError("--resume continues the folder's training; --restart replaces it. "
                                           "Use one of them.")
    training.check_options(options)
    model_dir = Path(model_dir).resolve()
    if from_model is not None:
        require_complete(from_model)
    if resume:
        training.resume_state(model_dir)
    elif not restart:
        training.check_new_model_dir(model_dir)
    elif training.folder_status(model_dir) == "foreign":
        training.clear_for_restart(model_dir)  # raises, naming the files it will not remove
    return model_dir


def train_adapter(adapter, dataset, model_dir: Path, options, *, resume: bool, restart: bool, **kwargs):
    """The adapter's training, after ``--restart`` cleared the folder; a first run that stops early is undone."""
    from ..models import training

    if restart:
        removed = training.clear_for_restart(model_dir)
        if removed and kwargs.get("progress", True):
            log.info("--restart: removed the earlier training's %d file(s) from %s", len(removed), model_dir)
    with training.first_run_cleanup(model_dir, fresh=not resume):
        return adapter.train(dataset, model_dir, options, resume=resume, **kwargs)


def announcer(dataset, progress: bool):
    """``say(text)`` for progress messages (silent without ``progress``), after the data loader's notes."""
    say = log.info if progress else (lambda text: None)
    for message in dataset.messages:
        say(f"note: {message}")
    return say


def finish_training(model_dir: Path, options, data_files: list, family: str, *, thresholds, resume,
                    from_model, command_line, extra=None) -> Path:
    """Provenance next to the model; the resume checkpoint goes once all epochs are done."""
    from ..models import training
    from ..qc.provenance import write_provenance

    provenance = write_provenance(
        model_dir / "provenance.json",
        config=training.saved_config(model_dir) | {"training_options": options.saved()},
        thresholds=thresholds,
        data_files=data_files,
        command_line=command_line or sys.argv,
        extra={"family": family, "resumed": resume,
               "fine_tuned_from": str(from_model) if from_model else None, **(extra or {})},
    )
    if training.TrainingState.load(model_dir).finished:
        training.remove_checkpoint(model_dir)
    return provenance
