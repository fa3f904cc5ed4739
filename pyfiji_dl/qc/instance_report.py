"""The QC report of an instance-segmentation model, written after training.

``MODEL_DIR/qc/``: ``index.html`` with the loss curves, matching metrics at IoU
0.1-0.9 (pooled and per image, also as CSV), metric-vs-threshold curves, one
overlay per validation image (TP green, FP red, FN blue), the data check and the
model's provenance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.card import ModelCard


def write_semantic_report(out: Path, card: ModelCard, samples: list, truths: list, masks: list, predictions: list, *,
                          title: str, history: list | None = None, extra_warnings: list | None = None,
                          summary_extra: dict | None = None) -> Path:
    """QC report of a semantic-segmentation model (U-Net) on annotated samples.

    Pixel metrics score the thresholded probability (the network's own answer),
    object metrics the objects after the card's post-processing (threshold, connected
    components, area filter); the predicting is done by
    :func:`pyfiji_dl.prediction.run.segment_samples`.

    Parameters
    ----------
    out : Path
        Folder of the report.
    card : ModelCard
        The model's card.
    samples : list of Sample
        The annotated samples, for names and overlays.
    truths : list of ndarray
        The annotated objects (binary masks already split into connected components).
    masks, predictions : list of ndarray
        Thresholded probability and objects of each sample.
    title : str
    history : list of dict, optional
        Training history (loss curves).
    extra_warnings : list of str, optional
    summary_extra : dict, optional
        More summary lines (the family's post-processing).

    Returns
    -------
    Path
        The HTML file.
    """
    warnings = list(extra_warnings or [])
    if any(t.any() for t in truths) and not any(m.any() for m in masks):
        warnings.append("the network predicts background everywhere on these images: train longer, check the "
                        "annotations, or enhance the contrast (--contrast clahe), which brightfield often needs")
    return write_matching_report(
        out, title=title, names=[s.name for s in samples], images=sample_images(samples), truths=truths,
        predictions=predictions, history=history, card=card, extra_warnings=warnings,
        pixel_predictions=masks, summary_extra=summary_extra, compare_rules=True,
    )


def sample_images(samples: list) -> list:
    """The images of annotated samples for overlays (the first channel of multichannel ones)."""
    return [s.image if s.image.ndim == s.labels.ndim else s.image[..., 0] for s in samples]


def compare_rules_rows(pixels: list, any_overlap: list, at_half: dict) -> list:
    """One pooled row per scoring rule, so pixel and object scores can be read side by side.

    Parameters
    ----------
    pixels : list of dict
        Per-image :func:`~pyfiji_dl.qc.matching.pixel_metrics` rows.
    any_overlap : list of dict
        Per-image :func:`~pyfiji_dl.qc.matching.any_overlap_metrics` rows.
    at_half : dict
        The pooled :func:`~pyfiji_dl.qc.matching.match_dataset` row at IoU 0.5.

    Returns
    -------
    list of dict
        ``rule``, ``counts``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``,
        ``f1_or_dice`` = 2 tp / (2 tp + fp + fn), ``jaccard`` = tp / (tp + fp + fn)
        (pixel IoU; for objects StarDist calls it "accuracy"), ``mean_matched_iou``.
    """
    def row(rule, counts, tp, fp, fn, mean_iou=None):
        return {"rule": rule, "counts": counts, "tp": tp, "fp": fp, "fn": fn,
                "precision": tp / (tp + fp) if tp else 0.0, "recall": tp / (tp + fn) if tp else 0.0,
                "f1_or_dice": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
                "jaccard": tp / (tp + fp + fn) if tp else 0.0, "mean_matched_iou": mean_iou}

    def total(rows, key):
        return int(sum(r[key] for r in rows))

    return [
        row("pixels (foreground vs background)", "pixels", total(pixels, "pixel_tp"), total(pixels, "pixel_fp"),
            total(pixels, "pixel_fn")),
        row("objects, any overlap", "objects", total(any_overlap, "any_overlap_tp"),
            total(any_overlap, "any_overlap_fp"), total(any_overlap, "any_overlap_fn")),
        row("objects, IoU >= 0.5 one to one", "objects", int(at_half["tp"]), int(at_half["fp"]), int(at_half["fn"]),
            float(at_half["mean_matched_score"])),
    ]


def write_matching_report(out: Path, *, title: str, names: list, images: list, truths: list, predictions: list,
                          history: list | None = None, card: ModelCard | None = None,
                          extra_warnings: list | None = None, pixel_predictions: list | None = None,
                          summary_extra: dict | None = None, compare_rules: bool = False) -> Path:
    """Score predicted label maps against annotations and write ``out/index.html``.

    Parameters
    ----------
    out : Path
    title : str
    names : list of str
    images : list of ndarray or None
        Raw images for the overlays (2D or 3D; None draws on a blank background).
    truths, predictions : list of ndarray
        Label maps of the same shapes.
    history : list of dict, optional
    card : ModelCard, optional
        Shown under "Data check" and "Model".
    extra_warnings : list of str, optional
    pixel_predictions : list of ndarray, optional
        Masks scored by the pixel metrics instead of the foreground of
        ``predictions`` (e.g. a semantic network's thresholded output, before its
        objects are filtered by area).
    summary_extra : dict, optional
        More lines for the summary (e.g. post-processing parameters).
    compare_rules : bool
        Add a table with pixel, any-overlap and IoU-matched scores side by side,
        pooled over the images (:func:`compare_rules_rows`).
    """
    from .matching import any_overlap_metrics, match_dataset, pixel_metrics
    from .plots import has_loss_curve, overlay_picture, plot_loss_curves, plot_metric_curves
    from .report import (class_balance_warnings, convergence_diagnosis, convergence_key_values, data_warnings,
                         training_warnings, write_html_report)

    out = Path(out)
    per_image, pooled = match_dataset(truths, predictions, names=names)
    pictures = []
    if has_loss_curve(history):  # all-NaN losses: training_warnings says so instead
        plot_loss_curves(history, out / "loss_curves.png")
        pictures.append("loss_curves.png")
    plot_metric_curves(pooled, out / "metrics_vs_iou.png")
    overlays = []
    for name, image, truth, pred in zip(names, images, truths, predictions):
        if image is None:
            image = np.zeros(truth.shape, np.float32)
        if truth.ndim == 3:  # 3D: show the middle slice
            middle = truth.shape[0] // 2
            image, truth, pred = image[middle], truth[middle], pred[middle]
        picture = f"overlay_{name}.png"
        overlay_picture(image, truth, pred, out / picture, thresh=0.5)
        overlays.append(picture)
    any_overlap = [{"image": n, **any_overlap_metrics(t, p)} for n, t, p in zip(names, truths, predictions)]
    pixel_masks = predictions if pixel_predictions is None else pixel_predictions
    pixels = [{"image": n, **pixel_metrics(t > 0, p > 0)} for n, t, p in zip(names, truths, pixel_masks)]

    at_half = next(row for row in pooled if abs(row["thresh"] - 0.5) < 1e-9)
    warnings = list(extra_warnings or []) + (training_warnings(history) if history else [])
    warnings += data_warnings(at_half["n_true"], [t.shape for t in truths], [p.shape for p in predictions],
                              names=names)
    warnings += class_balance_warnings(truths)
    thresholds = card.thresholds if card is not None else {}
    summary = {
        "images": len(names),
        "objects (ground truth)": at_half["n_true"],
        "objects (predicted)": at_half["n_pred"],
        "F1 at IoU 0.5": f"{at_half['f1']:.3f}",
        "mean matched IoU at IoU 0.5": f"{at_half['mean_matched_score']:.3f}",
        "precision / recall at IoU 0.5": f"{at_half['precision']:.3f} / {at_half['recall']:.3f}",
    }
    if "nms" in thresholds:  # StarDist's pair; a U-Net's single threshold is listed with its post-processing
        summary["probability / overlap (NMS) thresholds"] = f"{thresholds.get('prob')} / {thresholds.get('nms')}"
    sections = [{"heading": "Summary", "key_values": summary}]
    if compare_rules:
        compared = compare_rules_rows(pixels, any_overlap, at_half)
        summary["pixel IoU / Dice"] = f"{compared[0]['jaccard']:.3f} / {compared[0]['f1_or_dice']:.3f}"
        summary["objects, any overlap: precision / recall"] = (f"{compared[1]['precision']:.3f} / "
                                                               f"{compared[1]['recall']:.3f}")
        sections.append({
            "heading": "Pixels and objects side by side",
            "text": "Three ways to score the same predictions, pooled over the images. Pixels: every pixel "
                    "is foreground or background (precision, recall, Dice, IoU of the masks). Objects, any "
                    "overlap: a predicted object touching any annotated object counts as found (the rule "
                    "of Salomon-Sörensen 2023; detection only, merged neighbours count once). Objects, IoU >= 0.5: one-to-one "
                    "matching as StarDist scores it (shape must agree too). jaccard = tp / (tp + fp + fn).",
            "tables": {"scores_side_by_side": compared},
        })
    summary.update(summary_extra or {})
    sections += [
        {"heading": "Training", "pictures": pictures, "tables": {"training_history": history} if history else {},
         "key_values": convergence_key_values(convergence_diagnosis(history)) if history else {}},
        {"heading": "Object matching (IoU, one to one)",
         "text": "Predicted and annotated objects matched one to one at IoU thresholds 0.1-0.9 "
                 "(the definitions of stardist.matching).",
         "pictures": ["metrics_vs_iou.png"], "tables": {"matching_pooled": pooled, "matching_per_image": per_image}},
        {"heading": "Object detection (any overlap)",
         "text": "A predicted object is a true positive if it overlaps any annotated object at all (the rule of "
                 "the paired-fluorescence U-Net paper); not comparable with the IoU table.",
         "tables": {"any_overlap_per_image": any_overlap}},
        {"heading": "Pixels (foreground vs background)", "tables": {"pixel_metrics_per_image": pixels}},
        {"heading": "Overlays (TP green, FP red, FN blue, at IoU 0.5)", "pictures": overlays},
    ]
    if card is not None:
        shown = card.to_json()
        sections.append({"heading": "Data check", "key_values": shown.pop("data_check", None) or {}})
        sections.append({"heading": "Model", "key_values": shown})
    return write_html_report(out, title=title, sections=sections, warnings=warnings)
