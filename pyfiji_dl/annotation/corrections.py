"""What a reviewer changed: a corrected label map compared with the prediction.

Objects are paired one to one by overlap (intersection over union, IoU), the most
overlapping pairs first, as in the greedy matching of the COCO and DSB2018 scorers:

* **unchanged**: paired with IoU at or above ``redrawn_iou`` (an untouched ROI comes
  back pixel for pixel, IoU 1);
* **redrawn**: paired with IoU below ``redrawn_iou`` (an outline the reviewer edited);
* **removed**: a predicted object with no partner (a false positive deleted);
* **added**: a corrected object with no partner (a missed object drawn).

Objects overlapping by less than ``pair_iou`` are not partners: deleting an object
and drawing another one next to it is one removal and one addition, not a redraw.
Label ids do not matter, so corrected sets renumbered by the ROI Manager compare the
same. Time-lapses are compared frame by frame; z-stacks as volumes.

``corrections.csv`` next to the training data keeps one row per corrected image.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import PyfijiDLError
from ..io.tables import read_csv, write_csv

CORRECTIONS_FILE = "corrections.csv"
REDRAWN_IOU = 0.95
PAIR_IOU = 0.25
CORRECTION_COLUMNS = ("image", "removed", "added", "redrawn", "unchanged", "n_predicted", "n_corrected",
                      "redrawn_iou", "prediction", "corrected", "corrected_sha256", "recorded")


class CorrectionsError(PyfijiDLError, ValueError):
    """Prediction and correction cannot be compared; the message names the files."""


@dataclass
class CorrectionCounts:
    """Objects removed, added, redrawn and unchanged by a review."""

    removed: int = 0
    added: int = 0
    redrawn: int = 0
    unchanged: int = 0
    n_predicted: int = 0
    n_corrected: int = 0

    def __add__(self, other: "CorrectionCounts") -> "CorrectionCounts":
        return CorrectionCounts(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def message(self) -> str:
        """``12 removed, 5 added, 9 redrawn`` (and how many were kept)."""
        return (f"{self.removed} removed, {self.added} added, {self.redrawn} redrawn "
                f"({self.unchanged} of {self.n_predicted} predicted objects unchanged)")


def pair_objects(predicted: np.ndarray, corrected: np.ndarray, *, pair_iou: float = PAIR_IOU) -> list:
    """One-to-one pairs ``(predicted id, corrected id, IoU)`` of two label maps of one plane or volume.

    Greedy by IoU: the most overlapping pair first, each object in one pair at most;
    pairs below ``pair_iou`` are left out.
    """
    predicted, corrected = np.asarray(predicted).ravel(), np.asarray(corrected).ravel()
    ids_p, area_p = np.unique(predicted[predicted > 0], return_counts=True)
    ids_c, area_c = np.unique(corrected[corrected > 0], return_counts=True)
    both = (predicted > 0) & (corrected > 0)
    if not both.any():
        return []
    pairs, overlap = np.unique(np.stack([predicted[both], corrected[both]]), axis=1, return_counts=True)
    union = area_p[np.searchsorted(ids_p, pairs[0])] + area_c[np.searchsorted(ids_c, pairs[1])] - overlap
    iou = overlap / union
    taken_p, taken_c, result = set(), set(), []
    for index in np.argsort(-iou, kind="stable"):
        p, c = int(pairs[0, index]), int(pairs[1, index])
        if iou[index] < pair_iou:
            break
        if p in taken_p or c in taken_c:
            continue
        taken_p.add(p)
        taken_c.add(c)
        result.append((p, c, float(iou[index])))
    return result


def compare_labels(predicted: np.ndarray, corrected: np.ndarray, axes: str = "YX", *,
                   redrawn_iou: float = REDRAWN_IOU, pair_iou: float = PAIR_IOU) -> CorrectionCounts:
    """Count what a review changed between two label maps of the same shape.

    Parameters
    ----------
    predicted, corrected : ndarray
        Label maps (0 background), axes a subset of ``TZYX`` ending in ``YX``.
    axes : str
    redrawn_iou : float
        Pairs below this IoU count as redrawn.
    pair_iou : float
        Least IoU for two objects to be the same object.

    Returns
    -------
    CorrectionCounts
    """
    predicted, corrected = np.asarray(predicted), np.asarray(corrected)
    if predicted.shape != corrected.shape:
        raise CorrectionsError(f"the prediction has shape {predicted.shape}, the correction {corrected.shape}: "
                               "they are not of the same image")
    axes = axes.upper()
    frames = [(predicted, corrected)]
    if "T" in axes:
        t = axes.index("T")
        frames = [(np.take(predicted, i, axis=t), np.take(corrected, i, axis=t)) for i in range(predicted.shape[t])]
    total = CorrectionCounts()
    for before, after in frames:
        pairs = pair_objects(before, after, pair_iou=pair_iou)
        n_p = int(np.unique(before[before > 0]).size)
        n_c = int(np.unique(after[after > 0]).size)
        redrawn = sum(iou < redrawn_iou for _, _, iou in pairs)
        total = total + CorrectionCounts(removed=n_p - len(pairs), added=n_c - len(pairs), redrawn=redrawn,
                                         unchanged=len(pairs) - redrawn, n_predicted=n_p, n_corrected=n_c)
    return total


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_corrections(prediction: str | os.PathLike, corrected: str | os.PathLike,
                       data_dir: str | os.PathLike | None = None, *,
                       redrawn_iou: float = REDRAWN_IOU) -> tuple[CorrectionCounts, Path]:
    """Compare a corrected label map with its prediction and record it in ``corrections.csv``.

    Parameters
    ----------
    prediction : path-like
        The predicted label map (``OUT/masks/NAME.tif``).
    corrected : path-like
        The corrected label map (``DATA/masks/NAME.tif``, e.g. from *Save Corrections*).
    data_dir : path-like, optional
        Training data folder holding ``corrections.csv``; default: the folder above
        the corrected label map's ``masks/``.
    redrawn_iou : float

    Returns
    -------
    counts : CorrectionCounts
    table : Path
        ``corrections.csv``, one row per image (a new review of an image replaces its row).
    """
    from ..io.tiff import read_image

    prediction, corrected = Path(prediction), Path(corrected)
    for path in (prediction, corrected):
        if not path.is_file():
            raise CorrectionsError(f"{path}: no such label map.")
    before, info_before = read_image(prediction)
    after, info_after = read_image(corrected)
    if before.shape != after.shape:
        raise CorrectionsError(f"{corrected} has shape {after.shape} but the prediction {prediction} has "
                               f"{before.shape}: give the prediction of the same image.")
    counts = compare_labels(before, after, info_before.axes.replace("C", ""), redrawn_iou=redrawn_iou)
    data_dir = Path(data_dir) if data_dir is not None else corrected.resolve().parent.parent
    table = data_dir / CORRECTIONS_FILE
    rows = [r for r in read_csv(table) if r.get("image") != corrected.name] if table.exists() else []
    rows.append({"image": corrected.name, **asdict(counts), "redrawn_iou": redrawn_iou,
                 "prediction": str(prediction.resolve()), "corrected": str(corrected.resolve()),
                 "corrected_sha256": file_sha256(corrected),
                 "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    write_csv(table, rows, list(CORRECTION_COLUMNS))
    return counts, table
