"""A whole training run, the same for every model family.

Load and check the data (every problem named before anything trains), train with
the family's adapter (progress, history, resume), then leave the evidence next to
the model: thresholds, QC report with pictures, provenance (config, versions,
data file hashes, command line).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import training
from .card import read_card, write_card


@dataclass
class TrainingOutcome:
    model_dir: Path
    report: Path | None
    provenance: Path
    thresholds: dict | None
    fit_warnings: list


def train_stardist(
    data: str | Path,
    model_dir: str | Path,
    options,
    *,
    val: str | Path | None = None,
    channel: int | None = None,
    resume: bool = False,
    from_model: str | Path | None = None,
    progress: bool = True,
    command_line: list | None = None,
    extra_callbacks: list | None = None,
) -> TrainingOutcome:
    """Check the data, train StarDist, optimise thresholds, write QC and provenance.

    Raises
    ------
    pyfiji_dl.data.instances.DatasetError
        Unpaired, unreadable, empty or mis-shaped files (all listed).
    pyfiji_dl.data.checks.ObjectsDoNotFitError
        Objects larger than the patch, or images smaller than it.
    """
    from ..data.checks import ObjectsDoNotFitError, check_objects_fit
    from ..data.instances import load_instance_dataset
    from . import stardist as adapter

    model_dir = Path(model_dir).resolve()
    dataset = load_instance_dataset(data, val_dir=val, seed=options.seed, channel=channel)
    say = _announcer(dataset, progress)
    say(f"data: {len(dataset.train)} training and {len(dataset.val)} validation image(s), "
        f"{dataset.ndim}D, {dataset.n_channels} channel(s)")

    if resume:
        saved = training.saved_config(model_dir)
        if not saved:
            raise training.ResumeError(f"{model_dir}: no config.json, so there is no StarDist training to resume.")
        config_patch, n_rays = saved["train_patch_size"], saved["n_rays"]
    else:
        config = adapter.make_config(dataset, options) if from_model is None else adapter.load_model(from_model).config
        config_patch, n_rays = list(config.train_patch_size), config.n_rays
        if options.patch and from_model is not None:
            config_patch = list(options.patch)
    labels = [s.labels for s in dataset.all_samples]
    fit = check_objects_fit(labels, n_rays=n_rays, patch_size=tuple(config_patch),
                            anisotropy=adapter.anisotropy_of(dataset),
                            names=[s.name for s in dataset.all_samples])
    say(f"objects: {fit.n_objects} annotated, median size {fit.median_object}, largest {fit.largest_object}, "
        f"star-convex reconstruction IoU with {n_rays} rays: "
        + (f"{fit.star_convex_iou:.3f}" if fit.star_convex_iou is not None else "n/a"))
    for warning in fit.warnings:
        print(f"pyfiji-dl: warning: {warning}", file=sys.stderr, flush=True)
    if fit.errors:
        raise ObjectsDoNotFitError("the objects do not fit the model; nothing was trained:\n  " + "\n  ".join(fit.errors))

    model = adapter.train(dataset, model_dir, options, resume=resume, from_model=from_model,
                          progress=progress, extra_callbacks=extra_callbacks)
    thresholds = adapter.thresholds(model)
    card = read_card(model_dir)
    card.update({
        "thresholds": thresholds,
        "patch": list(model.config.train_patch_size),
        "n_rays": int(model.config.n_rays),
        "grid": list(model.config.grid),
        "largest_object_px": int(max(fit.largest_object)) if fit.largest_object else None,
        "data_check": fit.as_dict(),
    })
    write_card(model_dir, card)

    say("Writing the quality-control report on the validation images...")
    from ..qc.instance_report import write_instance_report

    report = write_instance_report(model, adapter, card, dataset.val, model_dir, fit_warnings=fit.warnings)
    provenance = _finish(model_dir, adapter, options, dataset.files, "stardist", thresholds=thresholds,
                         resume=resume, from_model=from_model, command_line=command_line,
                         extra={"data_check": fit.as_dict()})
    return TrainingOutcome(model_dir, report, provenance, thresholds, fit.warnings)


def train_unet(
    data: str | Path,
    model_dir: str | Path,
    options,
    *,
    val: str | Path | None = None,
    channel: int | None = None,
    resume: bool = False,
    from_model: str | Path | None = None,
    progress: bool = True,
    command_line: list | None = None,
    extra_callbacks: list | None = None,
) -> TrainingOutcome:
    """Check the data, train a U-Net, optimise its threshold, write QC and provenance.

    The data are those of StarDist (``images/`` with ``masks/`` or ``rois/``, paired
    by name, split by file); masks may be label maps or binary (0/1, 0/255):
    foreground is every non-zero pixel. The QC report scores the validation images
    by pixels, by objects with any overlap and by objects matched at IoU, side by side.

    Raises
    ------
    pyfiji_dl.data.instances.DatasetError
        Unpaired, unreadable, empty or mis-shaped files (all listed).
    pyfiji_dl.models.unet.UNetDataError
        3D data, images smaller than the patch, channels that do not fit.
    """
    import numpy as np

    from ..data.instances import load_instance_dataset
    from ..qc.instance_report import write_semantic_report
    from . import unet as adapter

    model_dir = Path(model_dir).resolve()
    dataset = load_instance_dataset(data, val_dir=val, seed=options.seed, channel=channel)
    say = _announcer(dataset, progress)
    adapter.require_2d(dataset)
    foreground = sum(int(np.count_nonzero(s.labels)) for s in dataset.train)
    total = sum(s.labels.size for s in dataset.train)
    foreground_fraction = round(foreground / total, 4) if total else 0.0
    say(f"data: {len(dataset.train)} training and {len(dataset.val)} validation image(s), "
        f"{dataset.ndim}D, {dataset.n_channels} channel(s), {100 * foreground_fraction:.1f} % foreground pixels")

    model = adapter.train(dataset, model_dir, options, resume=resume, from_model=from_model,
                          progress=progress, extra_callbacks=extra_callbacks)
    card = read_card(model_dir)
    # the adapter measured the objects and the class weights it trained with; reported, not recomputed
    data_check = {
        "training foreground fraction": foreground_fraction,
        "median annotated object area (px)": card["median_object_area"],
        "balanced class weights (background, foreground)": [round(w, 3) for w in model.config.class_weights],
    }
    card["data_check"] = data_check
    write_card(model_dir, card)
    thresholds = {"prob": float(card["threshold"])}

    say("Writing the quality-control report on the validation images...")
    report = write_semantic_report(model, adapter, card, dataset.val, model_dir,
                                   title=f"QC report: {model_dir.name} (U-Net)")
    provenance = _finish(model_dir, adapter, options, dataset.files, "unet", thresholds=thresholds,
                         resume=resume, from_model=from_model, command_line=command_line,
                         extra={"data_check": data_check,
                                "early_stopped_at_epoch": card.get("early_stopped_at_epoch")})
    return TrainingOutcome(model_dir, report, provenance, thresholds, [])


def _announcer(dataset, progress: bool):
    """``say(text)`` for progress messages (silent without ``progress``), after the data loader's notes."""
    say = (lambda text: print(text, flush=True)) if progress else (lambda text: None)
    for message in dataset.messages:
        say(f"note: {message}")
    return say


def _finish(model_dir: Path, adapter, options, data_files: list, family: str, *, thresholds, resume,
            from_model, command_line, extra=None) -> Path:
    """Provenance next to the model; the resume checkpoint goes once all epochs are done."""
    from ..qc.provenance import write_provenance
    from .training import TrainingState

    provenance = write_provenance(
        model_dir / "provenance.json",
        config=training.saved_config(model_dir) | {"training_options": asdict(options)},
        thresholds=thresholds,
        data_files=data_files,
        command_line=command_line or sys.argv,
        extra={"family": family, "resumed": resume,
               "fine_tuned_from": str(from_model) if from_model else None, **(extra or {})},
    )
    if TrainingState.load(model_dir).finished:
        training.remove_checkpoint(model_dir)
    return provenance


def train_restoration(
    family: str,
    data: str | Path,
    model_dir: str | Path,
    options,
    *,
    val: str | Path | None = None,
    channel: int | None = None,
    resume: bool = False,
    from_model: str | Path | None = None,
    progress: bool = True,
    command_line: list | None = None,
    extra_callbacks: list | None = None,
) -> TrainingOutcome:
    """Train CARE (``low/`` + ``GT/`` pairs) or Noise2Void (``images/``), then QC and provenance.

    The QC report scores the validation images against their ground truth (for
    Noise2Void only when ``DATA/GT`` has images of the same names).
    """
    from ..data.restoration import load_care_pairs, load_noisy_images
    from ..prediction.run import restore_image
    from ..qc.restoration_report import write_restoration_report
    from . import adapter_for
    from .training import read_history

    adapter = adapter_for(family)
    model_dir = Path(model_dir).resolve()
    load = load_care_pairs if family == "care" else load_noisy_images
    dataset = load(data, val_dir=val, seed=options.seed, channel=channel)
    say = _announcer(dataset, progress)
    say(f"data: {len(dataset.train)} training and {len(dataset.val)} validation image(s), {dataset.ndim}D")
    model = adapter.train(dataset, model_dir, options, resume=resume, from_model=from_model,
                          progress=progress, extra_callbacks=extra_callbacks)

    say("Writing the quality-control report...")
    card = read_card(model_dir)
    qc_samples = dataset.val or dataset.train[:1]
    spatial = "ZYX" if dataset.ndim == 3 else "YX"
    predictions = [restore_image(model, adapter, card, s.source, spatial) for s in qc_samples]
    notes = [] if dataset.val else ["no separate validation image: the QC uses the training image"]
    report = write_restoration_report(
        model_dir / "qc", title=f"QC report: {model_dir.name} ({'CARE' if family == 'care' else 'Noise2Void'})",
        names=[s.name for s in qc_samples], sources=[s.source for s in qc_samples], predictions=predictions,
        targets=[s.target for s in qc_samples], history=read_history(model_dir), card=card, extra_warnings=notes,
    )
    provenance = _finish(model_dir, adapter, options, dataset.files, family, thresholds=None, resume=resume,
                         from_model=from_model, command_line=command_line)
    return TrainingOutcome(model_dir, report, provenance, None, [])
