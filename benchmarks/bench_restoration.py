"""Benchmark: CARE and Noise2Void quality and prediction speed.

Quality: Poisson + Gaussian noise is added to the real DSB2018 nuclei image (2D) and
to a synthetic 3D stack of blurred nuclei. Three quarters (2D) / three sub-volumes
(3D) train, the last one is held out. Noise2Void trains on the noisy images only,
CARE on noisy/clean pairs, each for at most ``--minutes`` on the CPU. Printed: PSNR
and mSSIM of input vs GT and prediction vs GT on the held-out part (after CSBDeep's
normalisation), and the gain (targets: +6 dB for CARE, +4 dB for N2V).

Speed: a 2048 x 2048 image through ``pyfiji-dl predict`` (32-bit TIFF written)
against the model's own ``predict`` on the same array (target overhead <= 10 %).

Usage: python benchmarks/bench_restoration.py [--minutes 9] [--skip-3d] [--only n2v:3D ...] [--speed-only]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

PEAK_PHOTONS = 30.0
READ_NOISE = 0.04  # Gaussian noise, as a fraction of the clean image's range


def add_noise(clean: np.ndarray, seed: int) -> np.ndarray:
    """Shot noise at ~30 photons at the brightest pixels plus Gaussian read noise."""
    rng = np.random.default_rng(seed)
    scaled = (clean - clean.min()) / (np.ptp(clean) + 1e-9)
    noisy = rng.poisson(scaled * PEAK_PHOTONS) / PEAK_PHOTONS + rng.normal(0, READ_NOISE, clean.shape)
    return (noisy * np.ptp(clean) + clean.min()).astype(np.float32)


def synthetic_nuclei_3d(shape=(32, 128, 128), n=40, seed=0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    volume = np.zeros(shape, np.float32)
    for _ in range(n):
        c = rng.uniform([4, 8, 8], np.array(shape) - [4, 8, 8])
        r = rng.uniform([3, 6, 6], [6, 12, 12])
        volume[((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 < 1] += rng.uniform(0.5, 1)
    return (ndimage.gaussian_filter(volume, (1, 1.5, 1.5)) * 1000 + 100).astype(np.float32)


def pieces(image: np.ndarray) -> list:
    """Four equal parts along the last axis pairs: quarters in 2D, sub-volumes in 3D."""
    h, w = image.shape[-2] // 2, image.shape[-1] // 2
    return [image[..., y:y + h, x:x + w] for y, x in [(0, 0), (0, w), (h, 0), (h, w)]]


def write_sets(root: Path, clean: np.ndarray, seed: int) -> None:
    from pyfiji_dl.io.tiff import write_imagej_tiff

    axes = "ZYX" if clean.ndim == 3 else "YX"
    for i, part in enumerate(pieces(clean)):
        noisy = add_noise(part, seed + i)
        split = "heldout" if i == 3 else "train"
        write_imagej_tiff(root / split / "low" / f"p{i}.tif", noisy, axes)
        write_imagej_tiff(root / split / "GT" / f"p{i}.tif", part.astype(np.float32), axes)
        write_imagej_tiff(root / split / "images" / f"p{i}.tif", noisy, axes)  # N2V: noisy only


def quality(root: Path, clean: np.ndarray, label: str, minutes: float, seed: int, only=None) -> None:
    from pyfiji_dl.cli import main
    from pyfiji_dl.io.tiff import read_image
    from pyfiji_dl.qc.restoration import restoration_metrics

    write_sets(root, clean, seed)
    gt, _ = read_image(root / "heldout" / "GT" / "p3.tif")
    source, _ = read_image(root / "heldout" / "low" / "p3.tif")
    is_3d = clean.ndim == 3
    for family, extra in (("n2v", ["--patch", "16,64,64" if is_3d else "64", "--batch", "4" if is_3d else "64"]),
                          ("care", ["--patch", "16,64,64" if is_3d else "64", "--batch", "4" if is_3d else "16"])):
        if only and f"{family}:{label}" not in only:
            continue
        train_dir = root / "train"
        if family == "n2v":  # noisy images only: hide the GT from training
            data = root / "n2v_train"
            (data / "images").mkdir(parents=True, exist_ok=True)
            for path in (train_dir / "images").iterdir():
                (data / "images" / path.name).write_bytes(path.read_bytes())
        else:
            data = train_dir
        model = root / f"{family}_{label}"
        started = time.perf_counter()
        code = main(["train", family, "--data", str(data), "--model", str(model), "--epochs", "300",
                     "--steps", "50", "--max-minutes", str(minutes), "--quiet", *extra])
        assert code == 0, f"{family} training failed"
        seconds = time.perf_counter() - started
        out = root / f"pred_{family}_{label}"
        assert main(["--no-worker", "predict", str(model), str(root / "heldout" / "low" / "p3.tif"), "-o", str(out), "--quiet"]) == 0
        restored, _ = read_image(out / "restored" / "p3.tif")
        m = restoration_metrics(restored, gt, source)
        gain = m["psnr_prediction_vs_gt"] - m["psnr_input_vs_gt"]
        target = 6.0 if family == "care" else 4.0
        print(f"  {family.upper():5s} {label}: trained {seconds / 60:.1f} min | input vs GT: PSNR "
              f"{m['psnr_input_vs_gt']:.2f} dB, mSSIM {m['mssim_input_vs_gt']:.3f} | prediction vs GT: PSNR "
              f"{m['psnr_prediction_vs_gt']:.2f} dB, mSSIM {m['mssim_prediction_vs_gt']:.3f} | gain {gain:+.2f} dB "
              f"(target >= +{target:.0f} dB)", flush=True)


def speed(model_dir: Path, root: Path, repeat: int) -> None:
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.io.tiff import write_imagej_tiff
    from pyfiji_dl.models import care
    from pyfiji_dl.prediction.run import predict_paths
    from pyfiji_dl.models.tiling import choose_n_tiles

    image = add_noise(np.tile(test_image_nuclei_2d(), (4, 4)).astype(np.float32), 99)
    path = write_imagej_tiff(root / "big" / "img2048.tif", image, "YX")
    model = care.load_model(model_dir)
    care.predict(model, image[:256, :256])  # warm-up: graph tracing happens once per process
    direct, ours = [], []
    for _ in range(repeat):
        n_tiles = choose_n_tiles(image.shape, "YX", grid=tuple(model._axes_div_by("YX")))
        started = time.perf_counter()
        care.predict(model, image, n_tiles=n_tiles)
        direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        predict_paths(model_dir, [path], root / "big_out", progress=False, overwrite=True, model=model)
        ours.append(time.perf_counter() - started)
    print(f"\nSpeed, CARE 2048x2048 on CPU (best of {repeat}): model.predict {min(direct):.2f} s, "
          f"pyfiji-dl predict (32-bit TIFF written) {min(ours):.2f} s -> overhead "
          f"{100 * (min(ours) / min(direct) - 1):+.1f} % (target <= 10 %); tiles {n_tiles}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=9.0, help="training time limit per model (default 9)")
    parser.add_argument("--skip-3d", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="e.g. n2v:3D care:2D (quality runs to do; no speed part)")
    parser.add_argument("--speed-only", action="store_true",
                        help="skip the quality part; time a briefly trained CARE model (same network)")
    args = parser.parse_args()
    from stardist.data import test_image_nuclei_2d

    if args.speed_only:
        from pyfiji_dl.cli import main as cli

        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_sets(root, test_image_nuclei_2d().astype(np.float32), seed=1)
            assert cli(["train", "care", "--data", str(root / "train"), "--model", str(root / "care"),
                        "--epochs", "1", "--steps", "5", "--quiet"]) == 0
            speed(root / "care", root, args.repeat)
        return

    print(f"Quality (noise: Poisson at {PEAK_PHOTONS:.0f} photons peak + Gaussian {READ_NOISE:.0%}; held-out part):")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.only or any(o.endswith(":2D") for o in args.only):
            quality(root / "2d", test_image_nuclei_2d().astype(np.float32), "2D", args.minutes, seed=1, only=args.only)
        if not args.skip_3d and (not args.only or any(o.endswith(":3D") for o in args.only)):
            quality(root / "3d", synthetic_nuclei_3d(), "3D", args.minutes, seed=2, only=args.only)
        if not args.only:
            speed(root / "2d" / "care_2D", root, args.repeat)


if __name__ == "__main__":
    main()
