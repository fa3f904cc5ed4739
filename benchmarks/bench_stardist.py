"""Benchmark: StarDist quality and prediction speed on the bundled DSB2018 image.

Quality: train on three quarters of the 512x512 DSB2018 nuclei image (two for
training, one for validation/thresholds) for at most ``--minutes`` of CPU time,
predict the held-out quarter with ``pyfiji-dl predict`` and report matched F1 and
mean matched IoU at IoU 0.5 (target F1 >= 0.80).

Speed: prediction of a 1024x1024 and a 4096x4096 image through our command
(outputs included: label map, ROI zip, object table, summary) against calling
``StarDist2D.predict_instances`` directly on the same model and normalised image
(target overhead <= 10 %), and peak memory (VmHWM) of the 4096 run.

Usage: python benchmarks/bench_stardist.py [--minutes 9] [--model DIR] [--skip-quality]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


QUARTERS = {"q0": (0, 0), "q1": (0, 256), "q2": (256, 0), "q3": (256, 256)}


def make_data(root: Path):
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.annotation.convert import labels_to_rois
    from pyfiji_dl.io.rois import write_rois
    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

    image, labels = test_image_nuclei_2d(return_mask=True)
    for name, (y, x) in QUARTERS.items():
        target = root / ("heldout" if name == "q3" else "train")
        write_imagej_tiff(target / "images" / f"{name}.tif", image[y:y + 256, x:x + 256], "YX")
        crop = labels[y:y + 256, x:x + 256]
        if target.name == "train":  # annotations as Fiji ROI sets, converted exactly on the fly
            write_rois(target / "rois" / f"{name}.zip", labels_to_rois(crop, "YX"))
        else:
            write_label_image(target / "masks" / f"{name}.tif", crop, "YX")
    return image, labels


def quality(root: Path, minutes: float) -> Path:
    from pyfiji_dl.cli import main
    from pyfiji_dl.io.tiff import read_image
    from pyfiji_dl.qc.matching import match_dataset

    make_data(root)
    model = root / "model"
    started = time.perf_counter()
    code = main(["train", "stardist", "--data", str(root / "train"), "--model", str(model),
                 "--epochs", "400", "--steps", "50", "--patch", "128", "--batch", "4",
                 "--max-minutes", str(minutes), "--quiet"])
    train_seconds = time.perf_counter() - started
    assert code == 0, "training failed"
    code = main(["--no-worker", "predict", str(model), str(root / "heldout" / "images"), "-o", str(root / "pred"), "--quiet"])
    assert code == 0, "prediction failed"
    truth, _ = read_image(root / "heldout" / "masks" / "q3.tif")
    pred, _ = read_image(root / "pred" / "masks" / "q3.tif")
    _, pooled = match_dataset([truth], [pred], thresholds=(0.5,))
    row = pooled[0]
    epochs = json.loads((model / "training_state.json").read_text())["epochs_done"]
    print("\nQuality (held-out quarter of the DSB2018 image, 256x256, "
          f"{row['n_true']} nuclei):")
    print(f"  training: {epochs} epochs x 50 steps in {train_seconds / 60:.1f} min (incl. thresholds and QC)")
    print(f"  F1 @ IoU 0.5: {row['f1']:.3f}   (target >= 0.80)")
    print(f"  mean matched IoU @ 0.5: {row['mean_matched_score']:.3f}")
    print(f"  precision {row['precision']:.3f}, recall {row['recall']:.3f}, "
          f"tp {row['tp']}, fp {row['fp']}, fn {row['fn']}")
    print("  reference: ZeroCostDL4Mic StarDist IoU 0.85 on DCIS.COM with a GPU-trained model")
    return model


SPEED_CHILD = r"""
import json, sys, time
from pathlib import Path
mode, model_dir, size, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
from stardist.data import test_image_nuclei_2d
from pyfiji_dl.io.tiff import write_imagej_tiff
image = np.tile(test_image_nuclei_2d(), (size // 512, size // 512))
path = out / f"img{size}.tif"
write_imagej_tiff(path, image, "YX")
from pyfiji_dl.models import stardist as adapter
from pyfiji_dl.data.normalize import normalize_percentile
from pyfiji_dl.prediction.run import predict_paths
from pyfiji_dl.models.tiling import choose_n_tiles
model = adapter.load_model(model_dir)
# Warm-up in both modes, so per-image costs are compared: TensorFlow's graph tracing
# (direct) and loading our compiled tracer from numba's cache (ours) happen once per process.
write_imagej_tiff(out / "warm.tif", image[:256, :256], "YX")
model.predict_instances(normalize_percentile(image[:256, :256]))
if mode == "ours":
    predict_paths(model_dir, [out / "warm.tif"], out / "warm", progress=False, overwrite=True, model=model)
if mode == "direct":
    started = time.perf_counter()
    norm = normalize_percentile(image)
    n_tiles = choose_n_tiles(norm.shape, "YX", grid=tuple(model._axes_div_by("YX")))
    labels, details = model.predict_instances(norm, n_tiles=n_tiles, show_tile_progress=False)
    seconds = time.perf_counter() - started
    n = int(labels.max())
else:
    started = time.perf_counter()
    predict_paths(model_dir, [path], out / "pred", progress=False, overwrite=True, model=model)
    seconds = time.perf_counter() - started
    n = None
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"seconds": seconds, "peak_kib": int(peak), "objects": n}))
"""


def speed(model: Path, root: Path, repeat: int) -> None:
    print("\nSpeed (prediction, CPU, 2 cores; best of %d, each in a fresh process after a warm-up):" % repeat)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for size in (1024, 4096):
        results = {}
        for mode in ("direct", "ours"):
            runs = []
            for _ in range(repeat):
                out = subprocess.run([sys.executable, "-c", SPEED_CHILD, mode, str(model), str(size), str(root)],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            results[mode] = min(runs, key=lambda r: r["seconds"])
        direct, ours = results["direct"], results["ours"]
        overhead = 100 * (ours["seconds"] / direct["seconds"] - 1)
        print(f"  {size}x{size}: predict_instances {direct['seconds']:.2f} s ({direct['objects']} objects), "
              f"pyfiji-dl predict with outputs {ours['seconds']:.2f} s -> overhead {overhead:+.1f} % "
              f"(target <= 10 %); peak memory ours {ours['peak_kib'] / 2**20:.2f} GiB, "
              f"direct {direct['peak_kib'] / 2**20:.2f} GiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=9.0, help="training time limit (default 9)")
    parser.add_argument("--model", help="use this trained model for the speed part (skips training)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = Path(args.model) if args.model else None
        if not args.skip_quality or model is None:
            model = quality(root, args.minutes)
        speed(model, root, args.repeat)


if __name__ == "__main__":
    main()
