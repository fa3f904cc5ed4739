"""Benchmark: the model a time budget gives, pyfiji-dl's defaults against the raw library's examples.

For each budget (``--minutes``, default 2 5 10) and held-out part (``--parts``):

* StarDist: the 512 x 512 DSB2018 nuclei image of ``stardist.data`` in quarters; the
  held-out quarter is scored, the next one validates (thresholds), the other two
  train. Printed: F1 and mean matched IoU at IoU 0.5 (``stardist.matching``).
* CARE and Noise2Void: the same image with Poisson + Gaussian noise
  (benchmarks/bench_restoration.py); three noisy quarters train (CARE with their clean
  pairs), the held-out one is restored. Printed: PSNR gain over the noisy input.

``pyfiji-dl train FAMILY --max-minutes M`` (nothing else) against the raw library with
its documented example settings, stopped after M minutes of training (mid-epoch if
need be; an example script has no budget of its own): StarDist's example notebook
(``Config2D`` defaults: patch 256, batch 4, 100 steps/epoch, its augmenter,
thresholds optimised on the validation quarter), CSBDeep's denoising2D example
(patches 128 x 128, ``Config`` defaults: batch 16, 400 steps/epoch), n2v's 2D example
(patches 64 x 64 with 8-fold augmentation, batch 128, steps = patches / 128,
10 % validation). Both sides run in this process, one after the other.

The full run (3 budgets x 4 parts x 3 families x 2 sides) is hours of CPU; choose
with the flags, e.g. ``--minutes 2 --parts 3 0 --families stardist n2v``.

Usage: python benchmarks/bench_quality.py [--minutes 2 5 10] [--parts 0 1 2 3]
       [--families stardist care n2v]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_restoration import add_noise  # noqa: E402  (same noise as the restoration benchmark)

QUARTERS = [(0, 0), (0, 256), (256, 0), (256, 256)]


def quarter(image: np.ndarray, index: int) -> np.ndarray:
    y, x = QUARTERS[index]
    return image[y:y + 256, x:x + 256]


class TimeLimit:
    """Keras callback: stop the raw library's training once ``minutes`` have passed (after the batch)."""

    def __new__(cls, minutes: float):
        import tensorflow as tf

        class _TimeLimit(tf.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.deadline = time.monotonic() + 60 * minutes

            def on_train_batch_end(self, batch, logs=None):
                if time.monotonic() >= self.deadline:
                    self.model.stop_training = True

        return _TimeLimit()


def _clear():
    import tensorflow as tf

    tf.keras.backend.clear_session()


# --- StarDist ------------------------------------------------------------------------------

def stardist_split(held_out: int):
    val = (held_out + 1) % 4
    train = [i for i in range(4) if i not in (held_out, val)]
    return train, val


def stardist_ours(root: Path, image, labels, held_out: int, minutes: float) -> dict:
    from pyfiji_dl.cli import main
    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image
    from pyfiji_dl.models import stardist as adapter
    from pyfiji_dl.models.stardist import NORMALIZATION
    from pyfiji_dl.data.normalize import normalize_percentile

    train, val = stardist_split(held_out)
    for folder, parts in (("train", train), ("val", [val])):
        for i in parts:
            write_imagej_tiff(root / folder / "images" / f"q{i}.tif", quarter(image, i), "YX")
            write_label_image(root / folder / "masks" / f"q{i}.tif", quarter(labels, i), "YX")
    model_dir = root / "model"
    started = time.perf_counter()
    code = main(["train", "stardist", "--data", str(root / "train"), "--val", str(root / "val"),
                 "--model", str(model_dir), "--max-minutes", str(minutes), "--quiet"])
    assert code == 0, "pyfiji-dl train stardist failed"
    seconds = time.perf_counter() - started
    model = adapter.load_model(model_dir)
    test = normalize_percentile(quarter(image, held_out), NORMALIZATION["low"], NORMALIZATION["high"])
    predicted, _ = adapter.predict(model, test)
    _clear()
    return {"seconds": seconds, "prediction": predicted}


def stardist_raw(image, labels, held_out: int, minutes: float, basedir: Path) -> dict:
    from csbdeep.utils import normalize
    from stardist.models import Config2D, StarDist2D

    def augmenter(x, y):
        # StarDist's example notebook: random flips/90-degree rotations, intensity scaling
        perm = tuple(np.random.permutation(x.ndim))
        x, y = x.transpose(perm), y.transpose(perm)
        for axis in range(x.ndim):
            if np.random.rand() > 0.5:
                x, y = np.flip(x, axis=axis), np.flip(y, axis=axis)
        return x * np.random.uniform(0.6, 2) + np.random.uniform(-0.2, 0.2), y

    train, val = stardist_split(held_out)
    X = [normalize(quarter(image, i), 1, 99.8) for i in train]
    Y = [quarter(labels, i) for i in train]
    X_val, Y_val = [normalize(quarter(image, val), 1, 99.8)], [quarter(labels, val)]
    np.random.seed(42)
    config = Config2D(n_rays=32, grid=(2, 2), n_channel_in=1, use_gpu=False, train_tensorboard=False)
    model = StarDist2D(config, name="raw_stardist", basedir=str(basedir))
    started = time.perf_counter()
    model.prepare_for_training()
    model.callbacks.append(TimeLimit(minutes))
    model.train(X, Y, validation_data=(X_val, Y_val), augmenter=augmenter, epochs=config.train_epochs,
                steps_per_epoch=config.train_steps_per_epoch)
    model.optimize_thresholds(X_val, Y_val)
    seconds = time.perf_counter() - started
    predicted, _ = model.predict_instances(normalize(quarter(image, held_out), 1, 99.8))
    _clear()
    return {"seconds": seconds, "prediction": predicted}


def stardist_scores(truth, predicted) -> tuple:
    from stardist.matching import matching

    stats = matching(truth, predicted, thresh=0.5)
    return float(stats.f1), float(stats.mean_matched_score)


# --- CARE and Noise2Void ------------------------------------------------------------------

def restoration_ours(family: str, root: Path, noisy: list, clean: list, held_out: int, minutes: float) -> dict:
    from pyfiji_dl.cli import main
    from pyfiji_dl.io.tiff import write_imagej_tiff
    from pyfiji_dl.models import adapter_for

    for i in range(4):
        if i == held_out:
            continue
        if family == "care":
            write_imagej_tiff(root / "data" / "low" / f"q{i}.tif", noisy[i], "YX")
            write_imagej_tiff(root / "data" / "GT" / f"q{i}.tif", clean[i], "YX")
        else:
            write_imagej_tiff(root / "data" / "images" / f"q{i}.tif", noisy[i], "YX")
    model_dir = root / "model"
    started = time.perf_counter()
    code = main(["train", family, "--data", str(root / "data"), "--model", str(model_dir),
                 "--max-minutes", str(minutes), "--quiet"])
    assert code == 0, f"pyfiji-dl train {family} failed"
    seconds = time.perf_counter() - started
    adapter = adapter_for(family)
    restored = adapter.predict(adapter.load_model(model_dir), noisy[held_out])
    _clear()
    return {"seconds": seconds, "prediction": restored}


def care_raw(noisy: list, clean: list, held_out: int, minutes: float, basedir: Path) -> dict:
    from csbdeep.data import RawData, create_patches
    from csbdeep.models import CARE, Config

    parts = [i for i in range(4) if i != held_out]
    np.random.seed(42)
    raw = RawData.from_arrays([noisy[i] for i in parts], [clean[i] for i in parts], axes="YX")
    X, Y, _ = create_patches(raw, patch_size=(128, 128), n_patches_per_image=128, verbose=False)
    X, Y = np.moveaxis(X, 1, -1), np.moveaxis(Y, 1, -1)
    n_val = max(1, len(X) // 10)  # the example's validation_split=0.1
    config = Config("YXC", n_channel_in=1, n_channel_out=1, train_tensorboard=False)
    model = CARE(config, name="raw_care", basedir=str(basedir))
    started = time.perf_counter()
    model.prepare_for_training()
    model.callbacks.append(TimeLimit(minutes))
    model.train(X[n_val:], Y[n_val:], validation_data=(X[:n_val], Y[:n_val]))
    seconds = time.perf_counter() - started
    restored = model.predict(noisy[held_out], "YX")
    _clear()
    return {"seconds": seconds, "prediction": np.asarray(restored, np.float32)}


def n2v_raw(noisy: list, held_out: int, minutes: float, basedir: Path) -> dict:
    from n2v.internals.N2V_DataGenerator import N2V_DataGenerator
    from n2v.models import N2V, N2VConfig

    parts = [noisy[i][np.newaxis, ..., np.newaxis] for i in range(4) if i != held_out]  # SYXC
    patches = N2V_DataGenerator().generate_patches_from_list(parts, shape=(64, 64), augment=True)
    rng = np.random.default_rng(42)
    patches = patches[rng.permutation(len(patches))]
    n_val = max(1, len(patches) // 10)
    X, X_val = patches[n_val:], patches[:n_val]
    config = N2VConfig(X, unet_kern_size=3, train_steps_per_epoch=max(1, len(X) // 128), train_epochs=300,
                       train_loss="mse", batch_norm=True, train_batch_size=128, n2v_perc_pix=0.198,
                       n2v_patch_shape=(64, 64), n2v_manipulator="uniform_withCP", n2v_neighborhood_radius=5,
                       train_tensorboard=False)
    model = N2V(config, name="raw_n2v", basedir=str(basedir))
    started = time.perf_counter()
    model.prepare_for_training()
    model.callbacks.append(TimeLimit(minutes))
    model.train(X, X_val)
    seconds = time.perf_counter() - started
    restored = model.predict(noisy[held_out], axes="YX")
    _clear()
    return {"seconds": seconds, "prediction": np.asarray(restored, np.float32)}


def psnr_gain(restored, clean, noisy) -> float:
    from pyfiji_dl.qc.restoration import restoration_metrics

    m = restoration_metrics(restored, clean, noisy)
    return float(m["psnr_prediction_vs_gt"] - m["psnr_input_vs_gt"])


# --- the run ----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[2, 5, 10], help="budgets (default 2 5 10)")
    parser.add_argument("--parts", type=int, nargs="+", default=[0, 1, 2, 3], choices=range(4),
                        help="held-out quarters (default all four)")
    parser.add_argument("--families", nargs="+", default=["stardist", "care", "n2v"],
                        choices=["stardist", "care", "n2v"])
    args = parser.parse_args()
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.models.budget import available_cores

    image, labels = test_image_nuclei_2d(return_mask=True)
    clean = [quarter(image, i).astype(np.float32) for i in range(4)]
    noisy = [add_noise(c, seed=10 + i) for i, c in enumerate(clean)]
    print(f"bench_quality: budgets {args.minutes} min, held-out quarters {args.parts}, families {args.families}, "
          f"{available_cores()} CPU core(s)", flush=True)
    rows = []
    for minutes in args.minutes:
        for family in args.families:
            for part in args.parts:
                with tempfile.TemporaryDirectory() as tmp:
                    root = Path(tmp)
                    if family == "stardist":
                        raw = stardist_raw(image, labels, part, minutes, root / "raw")
                        ours = stardist_ours(root / "ours", image, labels, part, minutes)
                        truth = quarter(labels, part)
                        (f1_raw, iou_raw), (f1_ours, iou_ours) = (stardist_scores(truth, r["prediction"])
                                                                  for r in (raw, ours))
                        row = {"family": family, "minutes": minutes, "part": part, "metric": "F1 / mean IoU",
                               "raw": f1_raw, "ours": f1_ours, "raw_iou": iou_raw, "ours_iou": iou_ours}
                    else:
                        raw = (care_raw(noisy, clean, part, minutes, root / "raw") if family == "care"
                               else n2v_raw(noisy, part, minutes, root / "raw"))
                        ours = restoration_ours(family, root / "ours", noisy, clean, part, minutes)
                        row = {"family": family, "minutes": minutes, "part": part, "metric": "PSNR gain (dB)",
                               "raw": psnr_gain(raw["prediction"], clean[part], noisy[part]),
                               "ours": psnr_gain(ours["prediction"], clean[part], noisy[part])}
                    row.update(raw_seconds=raw["seconds"], ours_seconds=ours["seconds"])
                    rows.append(row)
                    print(_line(row), flush=True)
    print("\nSummary (mean over the held-out parts):")
    for minutes in args.minutes:
        for family in args.families:
            chosen = [r for r in rows if r["family"] == family and r["minutes"] == minutes]
            if chosen:
                raw, ours = np.mean([r["raw"] for r in chosen]), np.mean([r["ours"] for r in chosen])
                print(f"  {family:8s} {minutes:g} min: raw {raw:.3f}  pyfiji-dl {ours:.3f}  "
                      f"{_ratio(ours, raw)} ({len(chosen)} part(s))")


def _ratio(ours: float, raw: float) -> str:
    return f"ratio {ours / raw:.3f}" if raw > 0 else f"difference {ours - raw:+.3f}"


def _line(row: dict) -> str:
    head = f"{row['family']:8s} {row['minutes']:g} min, held-out q{row['part']}: "
    if row["family"] == "stardist":
        return (head + f"raw F1 {row['raw']:.3f} IoU {row['raw_iou']:.3f} ({row['raw_seconds']:.0f} s) | "
                f"pyfiji-dl F1 {row['ours']:.3f} IoU {row['ours_iou']:.3f} ({row['ours_seconds']:.0f} s) | "
                f"F1 {_ratio(row['ours'], row['raw'])}")
    return (head + f"raw {row['raw']:+.2f} dB ({row['raw_seconds']:.0f} s) | pyfiji-dl {row['ours']:+.2f} dB "
            f"({row['ours_seconds']:.0f} s) | difference {row['ours'] - row['raw']:+.2f} dB")


if __name__ == "__main__":
    main()
