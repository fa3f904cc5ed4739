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


def _kind_of_evaluation(names: list, truths: list, predictions: list) -> str:
    """``"labels"`` (object matching) or ``"restoration"``, the same for every pair, or an error.

    Label maps against label maps are matched as objects; anything else is scored
    as restoration. A folder that mixes the two is reported, file by file, rather
    than scored all one way because of one odd file.
    """
    label_pairs = [_is_label_map(t) and _is_label_map(p) for t, p in zip(truths, predictions)]
    if all(label_pairs):
        return "labels"
    truth_labels = [_is_label_map(t) for t in truths]
    pred_labels = [_is_label_map(p) for p in predictions]
    if all(truth_labels) and any(pred_labels):
        odd = [f"{name}.tif" for name, is_label in zip(names, pred_labels) if not is_label]
        raise DatasetError(
            f"cannot evaluate: the ground truth is label maps, and so are {sum(pred_labels)} of the "
            f"{len(names)} predictions, but not {', '.join(odd[:10])} (values with fractions). Convert "
            "them to label maps (whole numbers, one per object) or leave them out; nothing was scored.")
    if any(label_pairs):
        odd = [f"{name}.tif" for name, is_label in zip(names, label_pairs) if is_label]
        raise DatasetError(
            f"cannot evaluate: {', '.join(odd[:10])} pair label maps while the other files are images "
            "to score as restoration. Evaluate the two kinds in separate folders; nothing was scored.")
    return "restoration"


def evaluate_predictions(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, out_dir: str | os.PathLike,
                         *, input_dir: str | os.PathLike | None = None) -> Path:
    """Score predictions (any tool) against ground truth, paired by file name.

    Label maps in both folders -> object matching report; otherwise restoration
    metrics (with ``input_dir``, the inputs are scored against the GT as well).
    """
    from ..io.outputs import check_output_kinds, refuse_overwriting_inputs
    from .instance_report import write_matching_report
    from .restoration_report import write_restoration_report

    check_output_kinds(folders=[out_dir])
    refuse_overwriting_inputs([pred_dir, gt_dir, input_dir], folders=[out_dir])
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
    kind = _kind_of_evaluation(names, truths, predictions)
    if kind == "labels":
        return write_matching_report(out_dir, title=title, names=names, images=[None] * len(names),
                                     truths=[t.astype(np.int64) for t in truths],
                                     predictions=[p.astype(np.int64) for p in predictions])
    sources = [None] * len(names)
    if input_dir is not None:
        sources = [read_image(Path(input_dir) / f"{name}.tif")[0].astype(np.float32) for name in names]
    return write_restoration_report(out_dir, title=title, names=names, sources=sources,
                                    predictions=[p.astype(np.float32) for p in predictions],
                                    targets=[t.astype(np.float32) for t in truths])
