"""``pyfiji-dl evaluate --pred DIR --gt DIR``: predictions from any tool against ground truth.

Paired by file name: label maps are scored by object matching, other images by
restoration metrics. A model on a data folder with ground truth is evaluated by its
family (:meth:`pyfiji_dl.families.base.Family.evaluate`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.instances import DatasetError
from ..data.pairs import IMAGE_SUFFIXES, pair_by_stem
from ..io.tiff import read_image


def _is_label_map(array: np.ndarray) -> bool:
    return array.dtype.kind in "iub" or (array.dtype.kind == "f" and bool(np.all(array == np.round(array))))


def evaluate_predictions(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, out_dir: str | os.PathLike,
                         *, input_dir: str | os.PathLike | None = None) -> Path:
    """Score predictions (any tool) against ground truth, paired by file name.

    Label maps in both folders -> object matching report; otherwise restoration
    metrics (with ``input_dir``, the inputs are scored against the GT as well).
    """
    from .instance_report import write_matching_report
    from .restoration_report import write_restoration_report

    pairing = pair_by_stem(gt_dir, IMAGE_SUFFIXES, pred_dir, IMAGE_SUFFIXES)
    problems = []
    if pairing.only_first or pairing.only_second:
        problems.append(pairing.describe_unmatched("ground truth", "prediction"))
    names, truths, predictions = [], [], []
    for gt_path, pred_path in pairing.pairs:
        truth, _ = read_image(gt_path)
        pred, _ = read_image(pred_path)
        if truth.shape != pred.shape:
            problems.append(f"{pred_path.name}: prediction {pred.shape} and ground truth {truth.shape} differ in shape")
            continue
        names.append(gt_path.stem)
        truths.append(truth)
        predictions.append(pred)
    if problems or not names:
        raise DatasetError("cannot evaluate:\n  " + "\n  ".join(problems or [f"{gt_dir}: no images"]))
    out_dir = Path(out_dir)
    title = f"Evaluation of {Path(pred_dir).name} against {Path(gt_dir).name}"
    if all(_is_label_map(t) and _is_label_map(p) for t, p in zip(truths, predictions)):
        return write_matching_report(out_dir, title=title, names=names, images=[None] * len(names),
                                     truths=[t.astype(np.int64) for t in truths],
                                     predictions=[p.astype(np.int64) for p in predictions])
    sources = [None] * len(names)
    if input_dir is not None:
        sources = [read_image(Path(input_dir) / f"{name}.tif")[0].astype(np.float32) for name in names]
    return write_restoration_report(out_dir, title=title, names=names, sources=sources,
                                    predictions=[p.astype(np.float32) for p in predictions],
                                    targets=[t.astype(np.float32) for t in truths])
