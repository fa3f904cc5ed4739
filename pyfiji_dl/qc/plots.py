"""QC pictures: loss curves, metric curves, TP/FP/FN overlays, restoration panels.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no
``pyplot``), so nothing needs a display and nothing touches global plotting
state. Every picture is a PNG written atomically: a report never links a
half-written file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path

__all__ = [
    "plot_loss_curves",
    "has_loss_curve",
    "plot_metric_curves",
    "overlay_picture",
    "restoration_panel",
    "OVERLAY_COLOURS",
]

DPI = 100
OVERLAY_COLOURS = {"tp": (0, 200, 0), "fp": (230, 0, 0), "fn": (30, 90, 255)}
"""RGB colours of the overlay: true positives green, false positives red, false negatives blue."""

_FILL_OPACITY = 0.4
_OVERLAY_MIN_SIDE = 512  # small images are enlarged (nearest neighbour) to at least this
_OVERLAY_MAX_ZOOM = 8
METRIC_CURVE_KEYS = ("precision", "recall", "f1", "accuracy", "mean_matched_score", "panoptic_quality")


def plot_loss_curves(history_rows, path, *, title="Training history"):
    """Training and validation loss per epoch, linear and log scale, plus other losses.

    Parameters
    ----------
    history_rows : list of dict
        One dict per epoch with ``loss`` and ``val_loss`` (numbers or strings,
        as read back from a CSV) and optionally ``epoch`` (default: 1, 2, ...)
        and further loss columns such as ``prob_loss`` / ``val_prob_loss``
        (StarDist) which get their own panel. Other columns (``lr``, metrics)
        are ignored.
    path : path-like
        PNG to write.
    title : str

    Returns
    -------
    Path
        ``path``; the picture is 500 px wide per panel and 400 px high.
    """
    epochs, columns = _history_columns(history_rows)
    main = [key for key in ("loss", "val_loss") if key in columns]
    others = [key for key in columns if "loss" in key.lower() and key not in main]
    if not main and not others:
        raise ValueError("history rows have no loss column (expected 'loss' and 'val_loss').")
    all_positive = all(np.all(columns[k][np.isfinite(columns[k])] > 0) for k in main)
    panels = []
    if main:
        panels.append(("linear", main))
        if all_positive:
            panels.append(("log", main))
    if others:
        panels.append(("linear", others))

    fig = _figure(5 * len(panels), 4)
    for i, (scale, keys) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        # A loss term and its validation twin share a colour: solid training, dashed validation.
        terms = list(dict.fromkeys(key[4:] if key.startswith("val_") else key for key in keys))
        for key in keys:
            term = key[4:] if key.startswith("val_") else key
            style = "--" if key.startswith("val_") else "-"
            ax.plot(epochs, columns[key], style, color=f"C{terms.index(term) % 10}",
                    label=_loss_label(key), linewidth=1.5)
        if "val_loss" in keys and np.any(np.isfinite(columns["val_loss"])):
            best = int(np.nanargmin(columns["val_loss"]))
            ax.axvline(epochs[best], color="0.5", linestyle=":", linewidth=1)
            ax.plot([epochs[best]], [columns["val_loss"][best]], "o", color="0.3", markersize=4,
                    label=f"lowest validation loss (epoch {epochs[best]:g})")
        if scale == "log":
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" + (" (log scale)" if scale == "log" else ""))
        ax.set_title("Loss" if keys is main else "Loss terms", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save_png(fig, path)


def plot_metric_curves(pooled_rows, path, *, title="Object matching vs IoU threshold"):
    """Precision, recall, F1, accuracy, mean matched IoU and panoptic quality vs IoU threshold.

    Parameters
    ----------
    pooled_rows : list of dict
        Rows of :func:`pyfiji_dl.qc.matching.match_dataset` (pooled) or
        :func:`~pyfiji_dl.qc.matching.match_instances`, one per threshold.
    path : path-like
        PNG to write (640 x 480 px).
    title : str

    Returns
    -------
    Path
    """
    rows = sorted(pooled_rows, key=lambda row: float(row["thresh"]))
    if not rows:
        raise ValueError("no rows to plot.")
    thresholds = np.array([float(row["thresh"]) for row in rows])
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    for key in METRIC_CURVE_KEYS:
        if key in rows[0]:
            values = [_as_float(row.get(key)) for row in rows]
            ax.plot(thresholds, values, "o-", label=key.replace("_", " "), markersize=3)
    if thresholds.min() <= 0.5 <= thresholds.max():
        ax.axvline(0.5, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_png(fig, path)


def overlay_picture(image, y_true, y_pred, path, thresh=0.5):
    """The image in grey with matched and unmatched objects coloured.

    True positives (predicted objects matched one-to-one with IoU >= ``thresh``)
    are green, false positives (unmatched predictions) red, false negatives
    (unmatched true objects) blue: each filled half-transparently and outlined.
    Matching is :func:`pyfiji_dl.qc.matching.matched_pairs`.

    Parameters
    ----------
    image : ndarray
        2D image (YX), or YXC with 3 or 4 channels (shown as their mean);
        displayed between its 1st and 99.8th percentile.
    y_true, y_pred : ndarray of int
        Label maps of the image's YX shape.
    path : path-like
        PNG to write.
    thresh : float
        IoU threshold.

    Returns
    -------
    Path
        ``path``. The picture is the image enlarged by an integer factor
        ``zoom = clip(ceil(512 / min(height, width)), 1, 8)`` (nearest neighbour),
        so image pixel (r, c) covers picture pixels ``r*zoom ... r*zoom+zoom-1``;
        a small legend sits in the top-right corner.
    """
    from skimage.segmentation import find_boundaries

    from .matching import matched_pairs

    grey = _grey_image(image)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != grey.shape or y_pred.shape != grey.shape:
        raise ValueError(
            f"image {grey.shape}, y_true {y_true.shape} and y_pred {y_pred.shape} must have the same YX shape."
        )
    true_ids, pred_ids, _ = matched_pairs(y_true, y_pred, thresh)
    tp_labels = np.where(np.isin(y_pred, pred_ids), y_pred, 0)
    fp_labels = np.where(tp_labels == 0, y_pred, 0)
    fn_labels = np.where(np.isin(y_true, true_ids), 0, y_true)

    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    layers = [("fn", fn_labels), ("fp", fp_labels), ("tp", tp_labels)]
    for name, labels in layers:
        colour = np.array(OVERLAY_COLOURS[name], np.float32)
        inside = labels != 0
        rgb[inside] = (1 - _FILL_OPACITY) * rgb[inside] + _FILL_OPACITY * colour
    # Outlines last, so an object hidden under another's fill stays visible.
    for name, labels in layers:
        rgb[find_boundaries(labels, mode="inner")] = OVERLAY_COLOURS[name]
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    zoom = int(min(_OVERLAY_MAX_ZOOM, max(1, math.ceil(_OVERLAY_MIN_SIDE / min(grey.shape)))))
    if zoom > 1:
        rgb = np.repeat(np.repeat(rgb, zoom, axis=0), zoom, axis=1)

    from matplotlib.patches import Patch

    height, width = rgb.shape[:2]
    fig = _figure(width / DPI, height / DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    counts = {
        "tp": f"TP {true_ids.size}",
        "fp": f"FP {_n_objects(fp_labels)}",
        "fn": f"FN {_n_objects(fn_labels)}",
    }
    handles = [Patch(facecolor=np.array(OVERLAY_COLOURS[k]) / 255, label=counts[k]) for k in ("tp", "fp", "fn")]
    ax.legend(handles=handles, loc="upper right", fontsize=7, title=f"IoU \u2265 {thresh:g}",
              title_fontsize=7, framealpha=0.8, handlelength=1, borderpad=0.4)
    return _save_png(fig, path)


def restoration_panel(source, prediction, gt, path, *, title=None):
    """Target, input and prediction with their SSIM and RSE maps (ZeroCostDL4Mic layout).

    Row 1: GT, input, prediction. Row 2: SSIM maps (input vs GT, prediction vs GT)
    with mSSIM. Row 3: RSE maps with NRMSE and PSNR. Metrics are those of
    :mod:`pyfiji_dl.qc.restoration` (``norm_minmse`` normalisation).

    Parameters
    ----------
    source : ndarray or None
        The network's input; None leaves its panels empty.
    prediction, gt : ndarray
        2D images, or 3D stacks (ZYX; the middle slice is shown).
    path : path-like
        PNG to write (1200 x 1200 px).
    title : str, optional

    Returns
    -------
    Path
    """
    from .restoration import restoration_maps, restoration_metrics

    gt = np.asarray(gt)
    prediction = np.asarray(prediction)
    source = None if source is None else np.asarray(source)
    slice_note = ""
    if gt.ndim == 3:
        z = gt.shape[0] // 2
        slice_note = f" (slice {z} of {gt.shape[0]})"
        gt, prediction = gt[z], prediction[z]
        source = None if source is None else source[z]
    metrics = restoration_metrics(prediction, gt, source)
    maps = restoration_maps(prediction, gt, source)

    fig = _figure(12, 12)
    grid = fig.subplots(3, 3)
    for ax in grid.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, (name, image) in zip(grid[0], [("Target (GT)", gt), ("Input", source), ("Prediction", prediction)]):
        if image is None:
            ax.text(0.5, 0.5, "no input given", ha="center", va="center", transform=ax.transAxes)
        else:
            low, high = np.percentile(image, (1, 99.8))
            ax.imshow(image, cmap="gray", vmin=low, vmax=high if high > low else low + 1)
        ax.set_title(name + slice_note, fontsize=11)
    for ax in (grid[1, 0], grid[2, 0]):
        for spine in ax.spines.values():
            spine.set_visible(False)
    grid[1, 0].set_ylabel("SSIM maps", fontsize=13)
    grid[2, 0].set_ylabel("RSE maps", fontsize=13)
    grid[1, 0].text(0.5, 0.5, "SSIM: 1 = locally identical", ha="center", va="center",
                    transform=grid[1, 0].transAxes, fontsize=9)
    grid[2, 0].text(0.5, 0.5, "RSE = |GT - image|\nafter normalisation", ha="center", va="center",
                    transform=grid[2, 0].transAxes, fontsize=9)
    for col, which in ((1, "input"), (2, "prediction")):
        key = f"{which}_vs_gt"
        if f"ssim_{key}" not in maps:
            for row in (1, 2):
                grid[row, col].text(0.5, 0.5, "no input given", ha="center", va="center",
                                    transform=grid[row, col].transAxes)
            continue
        shown = grid[1, col].imshow(maps[f"ssim_{key}"], cmap="magma", vmin=0, vmax=1)
        fig.colorbar(shown, ax=grid[1, col], fraction=0.046, pad=0.04)
        grid[1, col].set_title(f"{which.capitalize()} vs GT", fontsize=11)
        grid[1, col].set_xlabel(f"mSSIM {metrics[f'mssim_{key}']:.3f}", fontsize=10)
        shown = grid[2, col].imshow(maps[f"rse_{key}"], cmap="magma", vmin=0, vmax=1)
        fig.colorbar(shown, ax=grid[2, col], fraction=0.046, pad=0.04)
        grid[2, col].set_title(f"{which.capitalize()} vs GT", fontsize=11)
        grid[2, col].set_xlabel(
            f"NRMSE {metrics[f'nrmse_{key}']:.3f}, PSNR {metrics[f'psnr_{key}']:.2f} dB", fontsize=10
        )
    if title:
        fig.suptitle(title, fontsize=13)
    return _save_png(fig, path)


# ---------------------------------------------------------------------------


def _figure(width_inches, height_inches):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_inches, height_inches), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(path)


def _as_float(value):
    if value is None or value == "":
        return float("nan")
    return float(value)


def has_loss_curve(history_rows) -> bool:
    """Whether :func:`plot_loss_curves` has a loss to draw: an epoch with a finite loss.

    A run whose losses were all NaN (diverged, or a batch with nothing to learn from)
    has none; the report then shows :func:`pyfiji_dl.qc.report.training_warnings`' note
    instead of a picture.
    """
    rows = list(history_rows or [])
    if not rows:
        return False
    _, columns = _history_columns(rows)
    return any("loss" in key.lower() for key in columns)


def _history_columns(history_rows):
    rows = list(history_rows)
    if not rows:
        raise ValueError("history is empty: no epoch to plot.")
    keys = []
    for row in rows:
        keys.extend(key for key in row if key not in keys and key != "epoch")
    columns = {key: np.array([_as_float(row.get(key)) for row in rows]) for key in keys}
    columns = {key: values for key, values in columns.items() if np.any(np.isfinite(values))}
    if all("epoch" in row and row["epoch"] not in (None, "") for row in rows):
        epochs = np.array([float(row["epoch"]) for row in rows])
    else:
        epochs = np.arange(1, len(rows) + 1, dtype=float)
    return epochs, columns


def _loss_label(key):
    if key == "loss":
        return "training loss"
    if key == "val_loss":
        return "validation loss"
    if key.startswith("val_"):
        return f"{key[4:].replace('_', ' ')} (validation)"
    return f"{key.replace('_', ' ')} (training)"


def _n_objects(labels):
    ids = np.unique(labels)
    return int(np.count_nonzero(ids))


def _grey_image(image):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3].mean(axis=-1)
    if image.ndim != 2:
        raise ValueError(
            f"overlay needs a 2D image (YX), got shape {image.shape}; pass one slice of a stack."
        )
    image = image.astype(np.float64)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return np.zeros(image.shape, np.float32)
    low, high = np.percentile(finite, (1, 99.8))
    if high <= low:
        high = low + 1
    return (np.clip((np.nan_to_num(image, nan=low) - low) / (high - low), 0, 1) * 255).astype(np.float32)
