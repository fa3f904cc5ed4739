"""The QC report of a restoration model (CARE, Noise2Void).

``OUT/index.html`` with loss curves, mSSIM / NRMSE / PSNR of input-vs-GT and
prediction-vs-GT (after CSBDeep's normalisation) per image and per slice (CSV too),
the ZeroCostDL4Mic-style panels, and SSIM and RSE maps saved as 32-bit TIFFs that
open in Fiji. Without ground truth (Noise2Void on noisy data only) the report says
so and shows the training curves and the restored images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.tiff import write_imagej_tiff
from ..models.card import ModelCard


def write_restoration_report(out_dir: Path, *, title: str, names: list, sources: list, predictions: list,
                             targets: list, history: list | None = None, card: ModelCard | None = None,
                             extra_warnings: list | None = None, scored_on: str | None = None) -> Path:
    """Score restored images against ground truth (where given) and write the report.

    Parameters
    ----------
    out_dir : Path
    title : str
    names : list of str
    sources, predictions : list of ndarray
        Network inputs and outputs, 2D or 3D.
    targets : list of ndarray or None
        Ground truth per image, or None.
    history : list of dict, optional
        Training history rows.
    card : ModelCard, optional
        Model card shown under "Model".
    scored_on : str, optional
        What the scored images are (e.g. validation blocks), said above the metrics.
    """
    from .plots import has_loss_curve, plot_loss_curves, restoration_panel
    from .report import convergence_diagnosis, convergence_key_values, training_warnings, write_html_report
    from .restoration import restoration_maps, restoration_metrics, restoration_metrics_per_slice

    out_dir = Path(out_dir)
    warnings = list(extra_warnings or []) + (training_warnings(history) if history else [])
    per_image, per_slice, panels, maps_written = [], [], [], []
    for name, source, prediction, target in zip(names, sources, predictions, targets):
        axes = "ZYX" if prediction.ndim == 3 else "YX"
        write_imagej_tiff(out_dir / "restored" / f"{name}.tif", prediction.astype(np.float32), axes)
        if target is None:
            continue
        row = {"image": name, **restoration_metrics(prediction, target, source)}
        per_image.append(row)
        if prediction.ndim == 3:
            per_slice += [{"image": name, **r} for r in restoration_metrics_per_slice(prediction, target, source)]
        for key, image in restoration_maps(prediction, target, source).items():
            path = out_dir / "maps" / f"{name}_{key}.tif"
            write_imagej_tiff(path, image.astype(np.float32), axes)
            maps_written.append(str(path.relative_to(out_dir)))
        panel = f"panel_{name}.png"
        restoration_panel(source, prediction, target, out_dir / panel, title=name)
        panels.append(panel)
    summary = {"images": len(names), "with ground truth": len(per_image)}
    if per_image:
        for key in ("psnr_input_vs_gt", "psnr_prediction_vs_gt", "mssim_input_vs_gt", "mssim_prediction_vs_gt",
                    "nrmse_input_vs_gt", "nrmse_prediction_vs_gt"):
            values = [row[key] for row in per_image if key in row]
            if values:
                summary[f"mean {key.replace('_', ' ')}"] = f"{np.mean(values):.4f}"
        if all("psnr_input_vs_gt" in r for r in per_image):
            gain = np.mean([r["psnr_prediction_vs_gt"] - r["psnr_input_vs_gt"] for r in per_image])
            summary["PSNR gain over the input (dB)"] = f"{gain:+.2f}"
            if gain < 0:
                warnings.append("the restored images are further from the ground truth than the input "
                                "(PSNR gain < 0)")
    else:
        warnings.append("no ground truth: the restoration could not be scored. Give GT images "
                        "(DATA/GT/NAME.tif, same names) to measure mSSIM, NRMSE and PSNR.")
    pictures = []
    if has_loss_curve(history):  # all-NaN losses: training_warnings says so instead
        plot_loss_curves(history, out_dir / "loss_curves.png")
        pictures.append("loss_curves.png")
    sections = [
        {"heading": "Summary", "key_values": summary},
        {"heading": "Training", "pictures": pictures, "tables": {"training_history": history} if history else {},
         "key_values": convergence_key_values(convergence_diagnosis(history)) if history else {}},
        {"heading": "Restoration metrics",
         "text": "After CSBDeep's normalisation (percentile for GT, affine least-squares fit of each image to "
                 "the GT). Input = the network's input; prediction = its output."
                 + (f"\n\nScored on {scored_on}." if scored_on else ""),
         "tables": {k: v for k, v in (("metrics_per_image", per_image), ("metrics_per_slice", per_slice)) if v}},
        {"heading": "Panels (target, input, prediction, SSIM and RSE maps)", "pictures": panels},
        {"heading": "Files", "links": maps_written + [f"restored/{n}.tif" for n in names]},
    ]
    if card is not None:
        sections.append({"heading": "Model", "key_values": card.to_json()})
    return write_html_report(out_dir, title=title, sections=sections, warnings=warnings)
