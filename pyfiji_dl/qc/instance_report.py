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
                          *, fit_warnings: list | None = None) -> Path:
    """Score the validation samples and write ``model_dir/qc/index.html``.

    Returns
    -------
    Path
        The HTML page.
    """
    from ..models.training import read_history
    from .matching import match_dataset
    from .plots import overlay_picture, plot_loss_curves, plot_metric_curves
    from .report import training_warnings, write_html_report

    model_dir = Path(model_dir)
    out = model_dir / "qc"
    names = [s.name for s in samples]
    truths = [s.labels for s in samples]
    predictions = predict_samples(model, adapter, card, samples)
    per_image, pooled = match_dataset(truths, predictions, names=names)
    history = read_history(model_dir)

    pictures = []
    if history:
        plot_loss_curves(history, out / "loss_curves.png")
        pictures.append("loss_curves.png")
    plot_metric_curves(pooled, out / "metrics_vs_iou.png")
    pictures.append("metrics_vs_iou.png")
    overlays = []
    for sample, prediction in zip(samples, predictions):
        image = sample.image if sample.image.ndim == sample.labels.ndim else sample.image[..., 0]
        truth, pred = sample.labels, prediction
        if truth.ndim == 3:  # 3D: show the middle slice
            middle = truth.shape[0] // 2
            image, truth, pred = image[middle], truth[middle], pred[middle]
        name = f"overlay_{sample.name}.png"
        overlay_picture(image, truth, pred, out / name, thresh=0.5)
        overlays.append(name)

    at_half = next(row for row in pooled if abs(row["thresh"] - 0.5) < 1e-9)
    warnings = list(fit_warnings or []) + training_warnings(history)
    n_true = sum(len(np.unique(t)) - 1 for t in truths)
    if n_true < 20:
        warnings.append(f"only {n_true} objects in the validation images: the metrics are uncertain")
    thresholds = card.get("thresholds") or {}
    summary = {
        "validation images": len(samples),
        "objects (ground truth)": n_true,
        "F1 at IoU 0.5": f"{at_half['f1']:.3f}",
        "mean matched IoU at IoU 0.5": f"{at_half['mean_matched_score']:.3f}",
        "precision / recall at IoU 0.5": f"{at_half['precision']:.3f} / {at_half['recall']:.3f}",
        "probability threshold": thresholds.get("prob"),
        "overlap (NMS) threshold": thresholds.get("nms"),
    }
    sections = [
        {"heading": "Summary", "key_values": summary},
        {"heading": "Training", "pictures": pictures[:1] if history else [],
         "tables": {"training_history": history} if history else {}},
        {"heading": "Matching on the validation images",
         "text": "One-to-one matching of predicted and annotated objects at IoU thresholds 0.1-0.9 "
                 "(same definitions as stardist.matching).",
         "pictures": pictures[-1:], "tables": {"matching_pooled": pooled, "matching_per_image": per_image}},
        {"heading": "Overlays (TP green, FP red, FN blue, at IoU 0.5)", "pictures": overlays},
        {"heading": "Data check", "key_values": card.get("data_check", {})},
        {"heading": "Model", "key_values": {k: v for k, v in card.items() if k != "data_check"}},
    ]
    return write_html_report(out, title=f"QC report: {model_dir.name} (StarDist)", sections=sections,
                             warnings=warnings)
