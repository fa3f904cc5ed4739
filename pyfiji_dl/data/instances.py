"""Training data for instance segmentation: images + label maps or ROI sets.

A data folder holds ``images/NAME.tif`` and, for each, ``masks/NAME.tif`` (a label
map) or ``rois/NAME.zip`` (a ROI Manager set, converted with the exact
ROI -> label conversion). Every problem (unpaired, unreadable, empty, mis-shaped) is
collected and reported by name before anything is trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PyfijiDLError
from ..io.tiff import Calibration, read_image, select_channel
from .pairs import IMAGE_SUFFIXES, ROI_SUFFIXES, PairingError, list_files


class DatasetError(PyfijiDLError, ValueError):
    """The training data cannot be used; the message lists every problem by file."""


@dataclass
class Sample:
    """One training image with its label map, in StarDist's layout.

    Attributes
    ----------
    name : str
        File stem (plus ``-tNNN`` for frames of a time-lapse).
    image : ndarray
        ``YX``/``ZYX`` with channels last when there are several (``YXC``/``ZYXC``).
    labels : ndarray
        ``YX``/``ZYX`` integer labels.
    image_path, annotation_path : Path
    calibration : Calibration
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    image_path: Path
    annotation_path: Path
    calibration: Calibration = Calibration()


@dataclass
class InstanceDataset:
    """Training and validation samples, split by file."""

    train: list
    val: list
    ndim: int
    n_channels: int
    files: list = field(default_factory=list)
    messages: list = field(default_factory=list)

    @property
    def all_samples(self) -> list:
        return self.train + self.val


def _annotation_for(stem: str, masks: dict, rois: dict):
    if stem in masks and stem in rois:
        return None, f"{stem}: both masks/{masks[stem].name} and rois/{rois[stem].name} exist; keep one"
    if stem in masks:
        return masks[stem], None
    if stem in rois:
        return rois[stem], None
    return None, None


def find_pairs(data_dir: str | os.PathLike) -> tuple[list, list]:
    """Pair ``images/`` with ``masks/`` or ``rois/`` by file stem.

    Returns
    -------
    pairs : list of (image_path, annotation_path)
    problems : list of str
        Unpaired or ambiguous files, one line each.
    """
    data_dir = Path(data_dir)
    problems: list[str] = []
    if not (data_dir / "images").is_dir():
        raise DatasetError(f"{data_dir}: no 'images' folder. Expected {data_dir}/images/NAME.tif with "
                           f"{data_dir}/masks/NAME.tif (label maps) or {data_dir}/rois/NAME.zip (ROI sets).")
    try:
        images = list_files(data_dir / "images", IMAGE_SUFFIXES)
        masks = list_files(data_dir / "masks", IMAGE_SUFFIXES) if (data_dir / "masks").is_dir() else {}
        rois = list_files(data_dir / "rois", ROI_SUFFIXES) if (data_dir / "rois").is_dir() else {}
    except PairingError as exc:
        raise DatasetError(str(exc)) from None
    if not masks and not rois:
        empty = [f"{data_dir / name}" for name in ("masks", "rois") if (data_dir / name).is_dir()]
        if empty:
            raise DatasetError(f"{' and '.join(empty)}: empty (no label maps NAME.tif or ROI sets NAME.zip); "
                               "put the annotation of each images/NAME.tif there.")
        raise DatasetError(f"{data_dir}: no 'masks' or 'rois' folder with annotations.")
    pairs = []
    for stem, image_path in sorted(images.items()):
        annotation, problem = _annotation_for(stem, masks, rois)
        if problem:
            problems.append(problem)
        elif annotation is None:
            problems.append(f"images/{image_path.name}: no masks/{stem}.tif or rois/{stem}.zip")
        else:
            pairs.append((image_path, annotation))
    for folder, files in (("masks", masks), ("rois", rois)):
        for stem, path in sorted(files.items()):
            if stem not in images:
                problems.append(f"{folder}/{path.name}: no images/{stem}.tif")
    return pairs, problems


def _load_labels(annotation: Path, image_shape: tuple, image_axes: str):
    from ..annotation.convert import ensure_integer_labels, rois_to_labels
    from ..io.rois import read_rois

    if annotation.suffix.lower() in ROI_SUFFIXES:
        labels, axes, report = rois_to_labels(read_rois(annotation), image_shape, image_axes)
        return labels, axes, report.messages()
    labels, info = read_image(annotation)
    axes = info.axes
    if "C" in axes and info.size("C") == 1:
        labels, axes = labels.reshape(tuple(s for s, a in zip(labels.shape, axes) if a != "C")), axes.replace("C", "")
    return ensure_integer_labels(labels, source=str(annotation)), axes, []


def _samples_from_pair(image_path: Path, annotation: Path, channel: int | None) -> tuple[list, list]:
    """Samples (one per frame of a time-lapse) and warnings; raises a PyfijiDLError naming the file on problems."""
    image, info = read_image(image_path)
    # StarDist and the U-Net take every channel (last) unless one is chosen
    image, _ = select_channel(image, info.axes, channel, f"images/{image_path.name}", all_channels=True)
    labels, label_axes, notes = _load_labels(annotation, info.shape, info.axes)
    image_planes_axes = info.axes.replace("C", "")
    if label_axes != image_planes_axes or labels.shape != tuple(
        s for s, a in zip(info.shape, info.axes) if a != "C"
    ):
        raise DatasetError(
            f"{annotation.name}: label map {label_axes} {labels.shape} does not match image "
            f"{image_path.name} {info.axes} {info.shape} (channels aside)"
        )
    frames_image = [image] if "T" not in info.axes else list(image)
    frames_labels = [labels] if "T" not in label_axes else list(labels)
    samples = []
    for t, (img, lbl) in enumerate(zip(frames_image, frames_labels), start=1):
        name = image_path.stem if len(frames_labels) == 1 else f"{image_path.stem}-t{t:03d}"
        if not lbl.any():
            notes.append(f"{name}: no objects annotated; used as background-only sample")
        samples.append(Sample(name, img, lbl, image_path, annotation, info.calibration))
    return samples, notes


def split_by_file(groups: list, val_fraction: float, seed: int, data_dir: Path) -> tuple[list, list]:
    """Training and validation samples, whole files apart so no field of view is in both.

    Parameters
    ----------
    groups : list of list
        Samples grouped by the file they come from (frames of a time-lapse together).
    val_fraction : float
        Share of the files held out (at least one).
    seed : int
        The same seed gives the same split.
    """
    if len(groups) < 2:
        raise DatasetError(
            f"{data_dir}: only one image; validation needs a second file. Add images, cut the "
            "image into fields in Fiji, or give a validation folder with --val."
        )
    order = np.random.default_rng(seed).permutation(len(groups))
    n_val = max(1, int(round(val_fraction * len(groups))))
    val_ids = set(order[:n_val].tolist())
    train = [s for i, g in enumerate(groups) if i not in val_ids for s in g]
    val = [s for i, g in enumerate(groups) if i in val_ids for s in g]
    return train, val


def _load_folder(folder: Path, channel, problems: list, messages: list, files: list) -> list:
    """Samples of every pair in ``folder``, grouped by file; problems are appended."""
    pairs, pair_problems = find_pairs(folder)
    problems += [f"{folder}: {p}" for p in pair_problems]
    by_file = []
    for image_path, annotation in pairs:
        try:
            samples, notes = _samples_from_pair(image_path, annotation, channel)
        except (PyfijiDLError, OSError) as exc:  # a bug of ours keeps its traceback
            problems.append(str(exc))
            continue
        messages += notes
        files += [image_path, annotation]
        by_file.append(samples)
    return by_file


def load_instance_samples(data_dir: str | os.PathLike, *, channel: int | None = None) -> tuple[list, list]:
    """All samples of a folder (for evaluation), and the files read.

    Raises
    ------
    DatasetError
        Listing every unpaired, unreadable or mis-shaped file.
    """
    problems: list = []
    files: list = []
    groups = _load_folder(Path(data_dir), channel, problems, [], files)
    samples = [s for g in groups for s in g]
    if not samples and not problems:
        problems.append(f"{data_dir}: no image/annotation pairs")
    if problems:
        raise DatasetError("the data has problems:\n  " + "\n  ".join(problems))
    return samples, files


def load_instance_dataset(
    data_dir: str | os.PathLike,
    *,
    val_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    seed: int = 42,
    channel: int | None = None,
) -> InstanceDataset:
    """Load images with their annotations and split them by file.

    Parameters
    ----------
    data_dir : path-like
        Folder with ``images/`` and ``masks/`` or ``rois/``.
    val_dir : path-like, optional
        A separate validation folder of the same layout; otherwise
        ``val_fraction`` of the files (at least one) are held out, chosen with ``seed``.
    val_fraction : float
    seed : int
    channel : int, optional
        1-based channel to use from multichannel images (default: all channels).

    Raises
    ------
    DatasetError
        Listing every unpaired, unreadable, empty or mis-shaped file.
    """
    sets = {"train": Path(data_dir)}
    if val_dir is not None:
        sets["val"] = Path(val_dir)
    loaded: dict = {}
    problems: list[str] = []
    messages: list[str] = []
    files: list = []
    for role, folder in sets.items():
        loaded[role] = _load_folder(folder, channel, problems, messages, files)
    all_samples = [s for group in loaded.values() for file_samples in group for s in file_samples]
    if not problems and not all_samples:
        problems.append(f"{data_dir}: no image/annotation pairs")
    if all_samples:
        ndims = {s.labels.ndim for s in all_samples}
        channels = {s.image.shape[-1] if s.image.ndim > s.labels.ndim else 1 for s in all_samples}
        if len(ndims) > 1:
            problems.append("images mix 2D and 3D: " + ", ".join(f"{s.name} {s.labels.ndim}D" for s in all_samples[:6]))
        if len(channels) > 1:
            problems.append("images have different numbers of channels: "
                            + ", ".join(f"{s.name}: {s.image.shape[-1] if s.image.ndim > s.labels.ndim else 1}"
                                        for s in all_samples[:6]) + " (choose one with --channel)")
        if not any(s.labels.any() for s in all_samples):
            problems.append("no annotated objects in any file")
    if problems:
        raise DatasetError("the training data has problems; nothing was trained:\n  " + "\n  ".join(problems))

    if "val" in loaded:
        train = [s for group in loaded["train"] for s in group]
        val = [s for group in loaded["val"] for s in group]
    else:
        train, val = split_by_file(loaded["train"], val_fraction, seed, Path(data_dir))
    first = all_samples[0]
    n_channels = first.image.shape[-1] if first.image.ndim > first.labels.ndim else 1
    return InstanceDataset(train, val, first.labels.ndim, n_channels, files, messages)
