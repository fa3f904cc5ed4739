"""Benchmark: a U-Net for transmitted light, trained on automatic labels.

After Salomon-Sörensen, "Cell Identification from Microscopy Images using Deep Learning on
Automatically Labeled Data", Lund University MSc thesis, 2023 (labels from a paired nuclear
stain), and a University of Tartu MSc thesis on U-Net segmentation of brightfield images
(with PerkinElmer).

The bundled DSB2018 nuclei image (real fluorescence, with a hand-made annotation) is
rendered as a paired "transmitted-light" image: nuclei a little darker than the
background, blurred, with a bright halo, low contrast, uneven illumination and noise.

1. Automatic labels from the fluorescence (``pyfiji-dl autolabel``: Fiji's CLAHE,
   adaptive Otsu, diameter 5-30 px, label QC dropping the lowest 25 % of images),
   scored against the annotation.
2. ``pyfiji-dl train unet`` on the transmitted-light tiles and the automatic labels, at
   most ``--minutes`` of CPU time.
3. ``pyfiji-dl predict`` on the held-out quarter (never seen, neither its labels):
   pixel metrics, Salomon-Sörensen's "any overlap" object metrics and IoU-matched metrics
   against the annotation.
4. Inference time per 1080 x 1080 image on the CPU: the network alone, and the whole
   command (probability map, mask, instances, ROI set, table), against the Tartu
   thesis's "one second per image on a desktop computer".

Usage: python benchmarks/bench_unet_autolabel.py [--minutes 10] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TILE = 128
HELD_OUT = (slice(256, 512), slice(256, 512))  # bottom-right quarter


def transmitted_light(fluorescence: np.ndarray, seed: int = 0) -> np.ndarray:
    """A brightfield-like rendering: dark blurred nuclei with a halo, low contrast, noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    f = fluorescence.astype(np.float32)
    f = (f - np.percentile(f, 1)) / (np.percentile(f, 99.8) - np.percentile(f, 1) + 1e-6)
    f = np.clip(f, 0, 1)
    body = gaussian_filter(f, 2.0)
    halo = gaussian_filter(f, 5.0) - gaussian_filter(f, 2.0)
    yy, xx = np.mgrid[:f.shape[0], :f.shape[1]] / max(f.shape)
    illumination = 0.9 + 0.15 * xx - 0.1 * yy
    image = illumination * (0.7 - 0.12 * body + 0.15 * halo) + rng.normal(0, 0.03, f.shape)
    return np.clip(image * 40000, 0, 65535).astype(np.uint16)


def tiles(shape, tile, skip):
    for y in range(0, shape[0], tile):
        for x in range(0, shape[1], tile):
            if skip[0].start <= y < skip[0].stop and skip[1].start <= x < skip[1].stop:
                continue
            yield y, x


def make_data(root: Path):
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

    fluorescence, truth = test_image_nuclei_2d(return_mask=True)
    light = transmitted_light(fluorescence)
    for y, x in tiles(fluorescence.shape, TILE, HELD_OUT):
        name = f"tile_y{y:03d}_x{x:03d}.tif"
        write_imagej_tiff(root / "fluorescence" / name, fluorescence[y:y + TILE, x:x + TILE], "YX")
        write_imagej_tiff(root / "train" / "images" / name, light[y:y + TILE, x:x + TILE], "YX")
        write_label_image(root / "truth_train" / name, truth[y:y + TILE, x:x + TILE], "YX")
    write_imagej_tiff(root / "heldout" / "images" / "heldout.tif", light[HELD_OUT], "YX")
    write_imagej_tiff(root / "heldout" / "fluorescence" / "heldout.tif", fluorescence[HELD_OUT], "YX")
    write_label_image(root / "heldout" / "masks" / "heldout.tif", truth[HELD_OUT], "YX")
    return fluorescence, light, truth


def scores(truth, pred) -> dict:
    from pyfiji_dl.qc.matching import any_overlap_metrics, match_dataset, pixel_metrics

    _, pooled = match_dataset([truth], [pred], thresholds=(0.5,))
    return {"pixel": pixel_metrics(truth, pred), "any_overlap": any_overlap_metrics(truth, pred),
            "iou50": pooled[0]}


def print_scores(title: str, s: dict) -> None:
    px, ao, m = s["pixel"], s["any_overlap"], s["iou50"]
    print(f"  {title}")
    print(f"    pixels:        precision {px['pixel_precision']:.3f}  recall {px['pixel_recall']:.3f}  "
          f"Dice {px['pixel_dice']:.3f}  IoU {px['pixel_iou']:.3f}  accuracy {px['pixel_accuracy']:.3f}")
    print(f"    any overlap:   precision {ao['any_overlap_precision']:.3f}  recall {ao['any_overlap_recall']:.3f}  "
          f"f1 {ao['any_overlap_f1']:.3f}")
    print(f"    IoU >= 0.5:    precision {m['precision']:.3f}  recall {m['recall']:.3f}  f1 {m['f1']:.3f}  "
          f"mean matched IoU {m['mean_matched_score']:.3f}  (n_true {m['n_true']}, n_pred {m['n_pred']})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time limit (CPU minutes)")
    parser.add_argument("--work", type=Path, default=None, help="keep the data and model here")
    parser.add_argument("--speed-only", action="store_true", help="reuse the model in --work; time inference")
    args = parser.parse_args(argv)

    from pyfiji_dl.cli import main as cli
    from pyfiji_dl.io.tiff import read_image

    root = args.work or Path(tempfile.mkdtemp(prefix="bench_unet_"))
    model = root / "model"
    if not args.speed_only:
        fluorescence, light, truth = make_data(root)

        print("\n1. Automatic labels from the fluorescence tiles")
        started = time.perf_counter()
        code = cli(["autolabel", "--fluorescence", str(root / "fluorescence"), "-o", str(root / "train" / "masks"),
                    "--report", "--max-diameter", "40", "--split-touching", "--quiet"])
        assert code == 0, "autolabel failed"
        seconds = time.perf_counter() - started
        kept = sorted(p.name for p in (root / "train" / "masks").glob("*.tif"))
        n_tiles = len(list((root / "fluorescence").glob("*.tif")))
        print(f"  {n_tiles} tiles of {TILE} x {TILE} in {seconds:.1f} s; {len(kept)} kept by the label QC")
        truths = [read_image(root / "truth_train" / n)[0] for n in kept]
        autos = [read_image(root / "train" / "masks" / n)[0] for n in kept]
        print_scores("automatic labels vs annotation (kept tiles, pooled)",
                     scores(_stack_labels(truths), _stack_labels(autos)))
        print("  reference (Salomon-Sörensen 2023, any overlap, expert review): precision 0.92-0.95, recall 0.98-0.99")
        for path in (root / "train" / "images").glob("*.tif"):  # images without a kept label
            if path.name not in kept:
                path.unlink()

        print(f"\n2. train unet, at most {args.minutes:g} CPU minutes")
        started = time.perf_counter()
        code = cli(["train", "unet", "--data", str(root / "train"), "--model", str(model),
                    "--epochs", "400", "--steps", "40", "--patch", "128", "--batch", "4",
                    "--max-minutes", str(args.minutes), "--quiet"])
        assert code == 0, "training failed"
        epochs = json.loads((model / "training_state.json").read_text())["epochs_done"]
        print(f"  {epochs} epochs x 40 steps in {(time.perf_counter() - started) / 60:.1f} min (incl. QC)")

        print("\n3. Held-out quarter (256 x 256, never trained on)")
        code = cli(["--no-worker", "predict", str(model), str(root / "heldout" / "images"), "-o", str(root / "pred"), "--quiet"])
        assert code == 0, "prediction failed"
        truth_q, _ = read_image(root / "heldout" / "masks" / "heldout.tif")
        pred_q, _ = read_image(root / "pred" / "masks" / "heldout.tif")
        print_scores("U-Net on transmitted light vs annotation", scores(truth_q, pred_q))
        print("  reference (Tartu brightfield thesis, U-Net, pixels): accuracy 0.963, precision 0.858, recall 0.824")

    speed(root, model)


def _stack_labels(label_maps):
    """Label maps side by side with distinct ids, so one pooled score covers them all."""
    out, offset = [], 0
    for labels in label_maps:
        labels = labels.astype(np.int64)
        out.append(np.where(labels > 0, labels + offset, 0))
        offset += int(labels.max())
    return np.concatenate(out)


def speed(root: Path, model: Path, n_images: int = 5) -> None:
    from pyfiji_dl.cli import main as cli
    from pyfiji_dl.io.tiff import read_image, write_imagej_tiff
    from pyfiji_dl.models import adapter_for
    from pyfiji_dl.models.card import read_card

    print("\n4. Inference time per 1080 x 1080 image (CPU)")
    light, _ = read_image(root / "heldout" / "images" / "heldout.tif")
    big = np.tile(light, (5, 5))[:1080, :1080]
    folder = root / "speed" / "images"
    for i in range(n_images):
        write_imagej_tiff(folder / f"big{i}.tif", np.roll(big, 37 * i, axis=1), "YX")

    adapter = adapter_for(read_card(model).family)
    unet = adapter.load_model(model)
    from pyfiji_dl.data.normalize import normalize_percentile

    normalized = normalize_percentile(big, 1, 99.8)
    adapter.predict(unet, normalized)  # warm-up (graph building)
    times = []
    for _ in range(n_images):
        started = time.perf_counter()
        adapter.predict(unet, normalized)
        times.append(time.perf_counter() - started)
    network = float(np.median(times))

    started = time.perf_counter()
    code = cli(["--no-worker", "predict", str(model), str(folder), "-o", str(root / "speed" / "out"), "--quiet", "--overwrite"])
    assert code == 0
    command = (time.perf_counter() - started) / n_images
    print(f"  network alone (median of {n_images}): {network:.2f} s/image")
    print(f"  pyfiji-dl predict, {n_images} images, all outputs, model loading included: {command:.2f} s/image")
    print(f"  Tartu thesis's target 1 s/image on a desktop: network {network / 1.0:.2f}x, command {command / 1.0:.2f}x "
          "of the budget")


if __name__ == "__main__":
    main()
