"""Training data for restoration: CARE pairs and Noise2Void noisy images.

* CARE: ``DATA/low/NAME.tif`` (low SNR) with ``DATA/GT/NAME.tif`` (high SNR), paired
  by file stem, same shape.
* Noise2Void: ``DATA/images/*.tif`` noisy images alone; time-lapse frames become
  separate samples. An optional ``DATA/GT/NAME.tif`` is used only for QC.

Every problem is listed by file name before anything is trained. Validation: a
``--val`` folder when given; else with many files (:data:`MIN_FILES_TO_HOLD_OUT`) whole
files apart, with a fixed seed; with fewer, blocks inside every image, chosen by the
model once it knows its patch (:mod:`pyfiji_dl.data.holdout`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, PyfijiDLError
from ..io.tiff import Calibration, read_image, select_channel
from .holdout import MIN_FILES_TO_HOLD_OUT, choose_validation_blocks, crop, grid_corners
from .instances import DatasetError, split_by_file
from .pairs import IMAGE_SUFFIXES, PairingError, list_files


@dataclass
class RestorationSample:
    """One image (ZYX or YX, one channel) with its ground truth when there is one."""

    name: str
    source: np.ndarray
    target: np.ndarray | None
    source_path: Path
    target_path: Path | None
    calibration: Calibration = Calibration()


@dataclass
class RestorationDataset:
    """Samples to train on and to validate with.

    ``holdout`` says how validation was set apart: ``"folder"`` (the user's), ``"files"``
    (whole files of the training folder) or ``"blocks"`` (few files: ``val`` is empty and
    the model validates on blocks inside the training images, see
    :mod:`pyfiji_dl.data.holdout`).
    """

    train: list
    val: list
    ndim: int
    files: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    holdout: str = "files"

    @property
    def all_samples(self) -> list:
        return self.train + self.val

    @property
    def has_targets(self) -> bool:
        return all(s.target is not None for s in self.all_samples)


def _planes(image: np.ndarray, axes: str, path: Path, *, frames_as_samples: bool, channel: int | None):
    """Split an image into model samples: one per frame, of the chosen channel."""
    image, axes = select_channel(image, axes, channel, path.name)
    if "T" in axes:
        if not frames_as_samples:
            raise InputError(f"{path.name}: is a time-lapse; CARE pairs must be single images or z-stacks")
        return [(f"{path.stem}-t{t + 1:03d}", frame) for t, frame in enumerate(np.moveaxis(image, axes.index("T"), 0))], axes.replace("T", "")
    return [(path.stem, image)], axes


def _check_ndim(samples: list, problems: list) -> int:
    ndims = {s.source.ndim for s in samples}
    if len(ndims) > 1:
        problems.append("images mix 2D and 3D: " + ", ".join(f"{s.name} {s.source.ndim}D" for s in samples[:6]))
    return samples[0].source.ndim if samples else 2


def _folder(data_dir: Path, name: str, required: bool) -> dict:
    folder = data_dir / name
    if not folder.is_dir():
        if required:
            raise DatasetError(f"{data_dir}: no '{name}' folder.")
        return {}
    try:
        files = list_files(folder, IMAGE_SUFFIXES)
    except PairingError as exc:
        raise DatasetError(str(exc)) from None
    if required and not files:
        raise DatasetError(f"{folder}: empty (no .tif images); put the {name} images there.")
    return files


def _load_care_folder(data_dir: Path, channel, problems: list, messages: list, files: list) -> list:
    low = _folder(data_dir, "low", True)
    gt = _folder(data_dir, "GT", True)
    for stem in sorted(set(low) - set(gt)):
        problems.append(f"{data_dir}: low/{low[stem].name} has no GT/{stem}.tif")
    for stem in sorted(set(gt) - set(low)):
        problems.append(f"{data_dir}: GT/{gt[stem].name} has no low/{stem}.tif")
    groups = []
    for stem in sorted(set(low) & set(gt)):
        try:
            source, info = read_image(low[stem])
            target, gt_info = read_image(gt[stem])
            if source.shape != target.shape or info.axes != gt_info.axes:
                raise InputError(f"low/{low[stem].name} {info.axes} {source.shape} and GT/{gt[stem].name} "
                                 f"{gt_info.axes} {target.shape} differ in shape")
            sources, axes = _planes(source, info.axes, low[stem], frames_as_samples=False, channel=channel)
            targets, _ = _planes(target, gt_info.axes, gt[stem], frames_as_samples=False, channel=channel)
        except (PyfijiDLError, OSError) as exc:  # a bug of ours keeps its traceback
            problems.append(str(exc))
            continue
        files += [low[stem], gt[stem]]
        groups.append([RestorationSample(name, s, t, low[stem], gt[stem], info.calibration)
                       for (name, s), (_, t) in zip(sources, targets)])
    return groups


def load_care_pairs(data_dir: str | os.PathLike, *, val_dir=None, val_fraction: float = 0.1, seed: int = 42,
                    channel: int | None = None) -> RestorationDataset:
    """Load ``low/`` + ``GT/`` pairs (same names, same shapes) and set validation apart.

    With a ``val_dir``, it validates; else with :data:`MIN_FILES_TO_HOLD_OUT` files or
    more, whole files (``val_fraction`` of them, ``seed``); with fewer, every file trains
    and the model validates on blocks inside them (``holdout == "blocks"``).

    Raises
    ------
    DatasetError
        Listing every unpaired, unreadable or mis-shaped file.
    """
    problems: list = []
    messages: list = []
    files: list = []
    groups = _load_care_folder(Path(data_dir), channel, problems, messages, files)
    val_groups = _load_care_folder(Path(val_dir), channel, problems, messages, files) if val_dir else None
    all_samples = [s for g in groups + (val_groups or []) for s in g]
    if not all_samples and not problems:
        problems.append(f"{data_dir}: no low/GT pairs")
    ndim = _check_ndim(all_samples, problems)
    if problems:
        raise DatasetError("the training data has problems; nothing was trained:\n  " + "\n  ".join(problems))
    train, val, holdout = _split(groups, val_groups, val_fraction, seed, Path(data_dir), messages)
    return RestorationDataset(train, val, ndim, files, messages, holdout)


def _split(groups: list, val_groups: list | None, val_fraction: float, seed: int, data_dir: Path,
           messages: list) -> tuple[list, list, str]:
    if val_groups is not None:
        return [s for g in groups for s in g], [s for g in val_groups for s in g], "folder"
    if len(groups) >= MIN_FILES_TO_HOLD_OUT:
        train, val = split_by_file(groups, val_fraction, seed, data_dir)
        return train, val, "files"
    messages.append(f"{len(groups)} file(s): validation uses about {val_fraction:.0%} of each image's area "
                    "(blocks no training patch touches), so every image also trains; give --val for a "
                    "separate validation folder")
    return [s for g in groups for s in g], [], "blocks"


def _load_noisy_folder(data_dir: Path, channel, problems: list, files: list) -> list:
    images = _folder(data_dir, "images", True)
    gt = _folder(data_dir, "GT", False)
    if not images:
        problems.append(f"{data_dir}/images: no .tif images")
    groups = []
    for stem, path in sorted(images.items()):
        try:
            image, info = read_image(path)
            planes, _ = _planes(image, info.axes, path, frames_as_samples=True, channel=channel)
            targets = [(None, None)] * len(planes)
            if stem in gt:
                target, gt_info = read_image(gt[stem])
                if target.shape != image.shape:
                    raise InputError(f"GT/{gt[stem].name} {target.shape} does not match images/{path.name} {image.shape}")
                targets, _ = _planes(target, gt_info.axes, gt[stem], frames_as_samples=True, channel=channel)
        except (PyfijiDLError, OSError) as exc:  # a bug of ours keeps its traceback
            problems.append(str(exc))
            continue
        files.append(path)
        if stem in gt:
            files.append(gt[stem])
        groups.append([RestorationSample(name, plane, target, path, gt.get(stem), info.calibration)
                       for (name, plane), (_, target) in zip(planes, targets)])
    return groups


def load_noisy_images(data_dir: str | os.PathLike, *, val_dir=None, val_fraction: float = 0.1, seed: int = 42,
                      channel: int | None = None) -> RestorationDataset:
    """Load noisy images for Noise2Void; frames of a time-lapse are separate samples.

    Validation as for CARE (:func:`load_care_pairs`): a folder, whole files, or blocks
    inside the images when there are few (one noisy image is enough).
    """
    problems: list = []
    files: list = []
    groups = _load_noisy_folder(Path(data_dir), channel, problems, files)
    val_groups = _load_noisy_folder(Path(val_dir), channel, problems, files) if val_dir else None
    all_samples = [s for g in groups + (val_groups or []) for s in g]
    ndim = _check_ndim(all_samples, problems)
    if problems:
        raise DatasetError("the training data has problems; nothing was trained:\n  " + "\n  ".join(problems))
    messages: list = []
    train, val, holdout = _split(groups, val_groups, val_fraction, seed, Path(data_dir), messages)
    return RestorationDataset(train, val, ndim, files, messages, holdout)


def choose_blocks(dataset: RestorationDataset, patch: tuple, seed: int, *, fraction: float = 0.1,
                  eligible=None) -> dict:
    """Validation blocks inside the images of a ``holdout == "blocks"`` dataset, by file name.

    ``eligible(sample, corners)``, when given, keeps the corners that may validate (CARE
    leaves out background). Frames of a time-lapse share their file's blocks.

    Raises
    ------
    DatasetError
        When no image holds two patches (one must train, one validate).
    """
    shapes, allowed = {}, {}
    for sample in dataset.train:
        name = sample.source_path.name
        if name in shapes:
            continue
        shapes[name] = sample.source.shape
        if eligible is not None:
            allowed[name] = eligible(sample, grid_corners(sample.source.shape, patch))
    blocks = choose_validation_blocks(shapes, patch, fraction, seed, allowed if eligible is not None else None)
    if not blocks and eligible is not None:  # nothing eligible (all background, say): any block will do
        blocks = choose_validation_blocks(shapes, patch, fraction, seed)
    if not blocks:
        size = "x".join(map(str, patch))
        raise DatasetError(f"{dataset.train[0].source_path.parent}: no image holds two {size} patches, so none "
                           "can be kept apart for validation; add images, give a validation folder with --val, "
                           "or a smaller --patch")
    return blocks


def block_samples(samples: list, blocks: dict, patch: tuple) -> list:
    """The validation blocks of ``samples`` (every frame) as samples of their own, for scoring."""
    cropped = []
    for sample in samples:
        for corner in blocks.get(sample.source_path.name, ()):
            where = "-".join(f"{axis}{c}" for axis, c in zip("ZYX"[-len(patch):], corner))
            cropped.append(replace(sample, name=f"{sample.name}-{where}", source=crop(sample.source, corner, patch),
                                   target=None if sample.target is None else crop(sample.target, corner, patch)))
    return cropped
