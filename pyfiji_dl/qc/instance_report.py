"""The QC report of an instance-segmentation model, written after training.

``MODEL_DIR/qc/``: ``index.html`` with the loss curves, matching metrics at IoU
0.1-0.9 (pooled and per image, also as CSV), metric-vs-threshold curves, one
overlay per validation image (TP green, FP red, FN blue), the data check and the
model's provenance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def predict_samples(model, adapter, card: dict, samples: list) -> list:
    """Predicted label maps for samples (already in the model's layout)."""
    from ..prediction.run import predict_image

    predictions = []
    for sample in samples:
        axes = ("ZYX" if card["ndim"] == 3 else "YX") + ("C" if card.get("n_channels", 1) > 1 else "")
        labels, _ = predict_image(model, adapter, card, sample.image, axes.replace("C", ""))
        predictions.append(labels)
    return predictions


def write_instance_report(model, adapter, card: dict, samples: list, model_dir: Path,
                          *, fit_warnings: list | None = None, out_dir: Path | None = None) -> Path:
    """Predict the validation samples, score them and write ``model_dir/qc/index.html``."""
    from ..models.training import read_history

    model_dir = Path(model_dir)
    predictions = predict_samples(model, adapter, card, samples)
    images = [s.image if s.image.ndim == s.labels.ndim else s.image[..., 0] for s in samples]
    return write_matching_report(
        out_dir or model_dir / "qc", title=f"QC report: {model_dir.name} (StarDist)",
        names=[s.name for s in samples], images=images, truths=[s.labels for s in samples],
        predictions=predictions, history=read_history(model_dir), card=card, extra_warnings=fit_warnings,
    )


def write_matching_report(out: Path, *, title: str, names: list, images: list, truths: list, predictions: list,
                          history: list | None = None, card: dict | None = None,
                          extra_warnings: list | None = None) -> Path:
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
    card : dict, optional
    extra_warnings : list of str, optional
    """
    from .matching import any_overlap_metrics, match_dataset, pixel_metrics
    from .plots import overlay_picture, plot_loss_curves, plot_metric_curves
    from .report import class_balance_warnings, data_warnings, training_warnings, write_html_report

    out = Path(out)
    per_image, pooled = match_dataset(truths, predictions, names=names)
    pictures = []
    if history:
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
    pixels = [{"image": n, **pixel_metrics(t > 0, p > 0)} for n, t, p in zip(names, truths, predictions)]

    at_half = next(row for row in pooled if abs(row["thresh"] - 0.5) < 1e-9)
    warnings = list(extra_warnings or []) + (training_warnings(history) if history else [])
    warnings += data_warnings(at_half["n_true"], [t.shape for t in truths], [p.shape for p in predictions],
                              names=names)
    warnings += class_balance_warnings(truths)
    thresholds = (card or {}).get("thresholds") or {}
    summary = {
        "images": len(names),
        "objects (ground truth)": at_half["n_true"],
        "objects (predicted)": at_half["n_pred"],
        "F1 at IoU 0.5": f"{at_half['f1']:.3f}",
        "mean matched IoU at IoU 0.5": f"{at_half['mean_matched_score']:.3f}",
        "precision / recall at IoU 0.5": f"{at_half['precision']:.3f} / {at_half['recall']:.3f}",
    }
    if thresholds:
        summary["probability / overlap (NMS) thresholds"] = f"{thresholds.get('prob')} / {thresholds.get('nms')}"
    sections = [
        {"heading": "Summary", "key_values": summary},
        {"heading": "Training", "pictures": pictures, "tables": {"training_history": history} if history else {}},
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
    if card:
        sections.append({"heading": "Data check", "key_values": card.get("data_check", {})})
        sections.append({"heading": "Model", "key_values": {k: v for k, v in card.items() if k != "data_check"}})
    return write_html_report(out, title=title, sections=sections, warnings=warnings)
