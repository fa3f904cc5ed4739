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

So that a bad run can be explained, every run keeps, in ``--results`` (default
``benchmarks/output/quality/<UTC time>/<family>_<minutes>min_q<part>/``), for each side
its training history (``training_history.csv``: epoch, seconds, losses, learning rate)
and ``run.json`` (the plan pyfiji-dl chose with its reasons, or the raw example's
settings; epochs done; StarDist's thresholds; the convergence verdict of the QC report);
the plan, the thresholds and the verdict are printed under the run's line.

Single runs vary (random initial weights and batches, and how many epochs the machine fits
in the budget): on a StarDist quarter of 33 to 60 nuclei one nucleus is 0.02 to 0.03 F1,
more than the goal's margin. ``--repeat N`` runs both sides N times per row and prints
and keeps every run; the row is their mean.

Runs that do not fit one sitting can be split (by budget, family or part) and their
tables printed together with ``--table FOLDER [FOLDER ...]``: each row keeps the
baseline measured in its own run. ``benchmarks/results/quality/`` keeps the sittings
behind the README's tables (their ``table.json``, plans and histories, without the QC
pictures); ``--table benchmarks/results/quality`` prints them all, a later sitting's row
replacing an earlier one of the same budget, family and part.

Usage: python benchmarks/bench_quality.py [--minutes 2 5 10] [--parts 0 1 2 3]
       [--families stardist care n2v] [--repeat N] [--results FOLDER]
       python benchmarks/bench_quality.py --table FOLDER [FOLDER ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
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


class EpochRecorder:
    """Keras callback: the raw library's history as pyfiji-dl writes it (epoch, seconds, lr, losses)."""

    def __new__(cls):
        import tensorflow as tf

        class _EpochRecorder(tf.keras.callbacks.Callback):
            rows: list = []

            def on_train_begin(self, logs=None):
                self.rows = []

            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                try:
                    lr = float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))
                except Exception:  # noqa: BLE001 - optimizers differ between Keras versions
                    lr = None
                row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.started, 3),
                       "learning_rate": lr}
                row.update({k: float(v) for k, v in (logs or {}).items() if k != "lr"})
                self.rows.append(row)

        return _EpochRecorder()


def _raw_training(model, minutes: float, settings: dict, train) -> dict:
    """Run the raw library's ``train`` within ``minutes``; its history and settings for the record."""
    recorder = EpochRecorder()
    with _quiet():  # Keras' per-step lines; the history and the run's line say what happened
        model.prepare_for_training()
        model.callbacks += [TimeLimit(minutes), recorder]
        train()
    return {"settings": settings, "history": recorder.rows}


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _ours_record(model_dir: Path) -> dict:
    """What pyfiji-dl's training left in ``model_dir``: plan, state, history, thresholds."""
    from pyfiji_dl.models.card import read_card
    from pyfiji_dl.models.training import TrainingState, read_history

    state = TrainingState.load(model_dir)
    record = {"model_dir": model_dir, "plan": read_card(model_dir).training_plan,
              "history": read_history(model_dir),
              "epochs_done": state.epochs_done if state else None,
              "epochs_total": state.epochs_total if state else None}
    if (model_dir / "thresholds.json").exists():
        record["thresholds"] = json.loads((model_dir / "thresholds.json").read_text())
    return record


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
    return {"seconds": seconds, "prediction": predicted, **_ours_record(model_dir)}


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
    record = _raw_training(model, minutes, _settings(config), lambda: model.train(
        X, Y, validation_data=(X_val, Y_val), augmenter=augmenter, epochs=config.train_epochs,
        steps_per_epoch=config.train_steps_per_epoch))
    with _quiet():
        model.optimize_thresholds(X_val, Y_val)
    seconds = time.perf_counter() - started
    predicted, _ = model.predict_instances(normalize(quarter(image, held_out), 1, 99.8))
    _clear()
    record["thresholds"] = {"prob": float(model.thresholds.prob), "nms": float(model.thresholds.nms)}
    return {"seconds": seconds, "prediction": predicted, **record}


def _settings(config) -> dict:
    """The raw example's training settings, named as pyfiji-dl's plan names them."""
    patch = getattr(config, "train_patch_size", None)  # CARE's and n2v's patches are cut before training
    return {"patch": list(patch) if patch else None, "batch": config.train_batch_size,
            "steps": config.train_steps_per_epoch, "epochs": config.train_epochs,
            "lr": config.train_learning_rate, "reduce_lr": config.train_reduce_lr}


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
    return {"seconds": seconds, "prediction": restored, **_ours_record(model_dir)}


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
    record = _raw_training(model, minutes, _settings(config) | {"patch": [128, 128]},
                           lambda: model.train(X[n_val:], Y[n_val:], validation_data=(X[:n_val], Y[:n_val])))
    seconds = time.perf_counter() - started
    restored = model.predict(noisy[held_out], "YX")
    _clear()
    return {"seconds": seconds, "prediction": np.asarray(restored, np.float32), **record}


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
    record = _raw_training(model, minutes, _settings(config) | {"patch": [64, 64]}, lambda: model.train(X, X_val))
    seconds = time.perf_counter() - started
    restored = model.predict(noisy[held_out], axes="YX")
    _clear()
    return {"seconds": seconds, "prediction": np.asarray(restored, np.float32), **record}


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
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="runs of both sides per budget, family and part (default 1); the row is their mean, "
                             "each run is printed and kept: single runs differ by about one nucleus on a quarter")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder for each run's plans and histories (default benchmarks/output/quality/<UTC time>)")
    parser.add_argument("--table", type=Path, nargs="+", metavar="FOLDER",
                        help="train nothing: print the table and the goal of earlier runs' results folders (or of all "
                             "beneath a folder) together; each row was measured with its baseline in its own run")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: give at least 1 run per row")
    if args.table:
        rows = kept_rows(args.table)
        for row in sorted(rows, key=lambda r: (r["minutes"], r["family"], r["part"])):
            print(_line(row))
        print_summary(rows)
        return
    results = args.results or (Path(__file__).resolve().parent / "output" / "quality"
                               / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.models.budget import available_cores

    image, labels = test_image_nuclei_2d(return_mask=True)
    clean = [quarter(image, i).astype(np.float32) for i in range(4)]
    noisy = [add_noise(c, seed=10 + i) for i, c in enumerate(clean)]
    print(f"bench_quality: budgets {args.minutes} min, held-out quarters {args.parts}, families {args.families}, "
          f"{available_cores()} CPU core(s); plans and histories in {results}", flush=True)
    results.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in args.minutes:
        for family in args.families:
            for part in args.parts:
                runs = []
                for run in range(args.repeat):
                    name = f"{family}_{minutes:g}min_q{part}" + (f"_run{run + 1}" if args.repeat > 1 else "")
                    measured, explained = measure(family, minutes, part, image, labels, clean, noisy, results / name)
                    runs.append(measured)
                    print(_line(measured) + "\n" + explained, flush=True)
                    row = mean_of_runs(runs)
                    # after every run, so that a sitting cut short keeps what it measured
                    (results / "table.json").write_text(json.dumps(rows + [row], indent=1))
                rows.append(row)
                if len(runs) > 1:
                    print(_line(row), flush=True)
    print_summary(rows)


def measure(family: str, minutes: float, part: int, image, labels, clean: list, noisy: list, folder: Path) -> tuple:
    """One run of both sides on one held-out part, kept in ``folder``: the table's row and its explanation."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if family == "stardist":
            raw = stardist_raw(image, labels, part, minutes, root / "raw")
            ours = stardist_ours(root / "ours", image, labels, part, minutes)
            truth = quarter(labels, part)
            (f1_raw, iou_raw), (f1_ours, iou_ours) = (stardist_scores(truth, r["prediction"]) for r in (raw, ours))
            row = {"family": family, "minutes": minutes, "part": part, "metric": "F1 / mean IoU",
                   "raw": f1_raw, "ours": f1_ours, "raw_iou": iou_raw, "ours_iou": iou_ours}
        else:
            raw = (care_raw(noisy, clean, part, minutes, root / "raw") if family == "care"
                   else n2v_raw(noisy, part, minutes, root / "raw"))
            ours = restoration_ours(family, root / "ours", noisy, clean, part, minutes)
            row = {"family": family, "minutes": minutes, "part": part, "metric": "PSNR gain (dB)",
                   "raw": psnr_gain(raw["prediction"], clean[part], noisy[part]),
                   "ours": psnr_gain(ours["prediction"], clean[part], noisy[part])}
        # both sides share the machine with whatever else runs: its load is part of the record
        row.update(raw_seconds=raw["seconds"], ours_seconds=ours["seconds"], load=os.getloadavg()[0])
        return row, keep_run(folder, row, raw, ours)  # within the temporary folder: it keeps the QC pictures


#: The scores a row averages over its runs (its seconds and load too).
SCORES = ("raw", "ours", "raw_iou", "ours_iou", "raw_seconds", "ours_seconds", "load")


def mean_of_runs(runs: list) -> dict:
    """The row of one budget, family and part: the mean of its runs, which it keeps under ``runs``.

    One run is its own row. Several runs are averaged because single runs differ by more than
    the goal's margin: a StarDist quarter has 33 to 60 nuclei, so one nucleus found or missed
    moves F1 by 0.02 to 0.03, and both sides are trained from random weights and batches."""
    if len(runs) == 1:
        return runs[0]
    row = {k: v for k, v in runs[0].items() if k not in SCORES}
    row.update({k: float(np.mean([r[k] for r in runs])) for k in SCORES if k in runs[0]})
    row["runs"] = [{k: r[k] for k in SCORES if k in r} for r in runs]
    return row


def kept_rows(folders: list) -> list:
    """The rows of the results folders given, or of every results folder beneath them.

    Folders are read in the order of their names (``benchmarks/results/quality`` names them by
    date); a run measured again in a later sitting replaces the earlier row, which is named."""
    tables = []
    for folder in folders:
        found = [folder / "table.json"] if (folder / "table.json").is_file() else sorted(folder.rglob("table.json"))
        if not found:
            sys.exit(f"bench_quality: no table.json in {folder} or beneath it: give a folder of --results")
        tables += [t.resolve() for t in found]
    rows = {}
    for table in dict.fromkeys(tables):  # a folder named twice is read once
        for row in json.loads(table.read_text()):
            key = (row["minutes"], row["family"], row["part"])
            if key in rows:
                print(f"{row['family']} {row['minutes']:g} min q{row['part']}: {table.parent.name} replaces "
                      f"{rows[key][1]}")
            rows[key] = (row, table.parent.name)
    return [row for row, _ in rows.values()]


#: The issue's goal: on every held-out part at least as good as the raw library within these margins
#: (F1 for StarDist, PSNR gain in dB for CARE and Noise2Void), and ahead on the mean.
MARGIN = {"stardist": 0.01, "care": 0.2, "n2v": 0.2}


def print_summary(rows: list) -> None:
    """Mean over the held-out parts per budget and family, and whether the goal was met."""
    print("\nSummary (mean over the held-out parts; goal: every part within "
          "F1 0.01 / 0.2 dB of the raw library or better, and ahead on the mean):")
    for minutes in sorted({r["minutes"] for r in rows}):
        for family in ("stardist", "care", "n2v"):
            chosen = sorted((r for r in rows if r["family"] == family and r["minutes"] == minutes),
                            key=lambda r: r["part"])
            if not chosen:
                continue
            raw, ours = np.mean([r["raw"] for r in chosen]), np.mean([r["ours"] for r in chosen])
            behind = [f"q{r['part']} {r['ours'] - r['raw']:+.3f}" for r in chosen
                      if r["ours"] < r["raw"] - MARGIN[family]]
            goal = "goal met" if not behind and ours > raw else (
                "goal missed: " + (", ".join(behind) if behind else "not ahead on the mean"))
            print(f"  {family:8s} {minutes:g} min: raw {raw:.3f}  pyfiji-dl {ours:.3f}  {_ratio(ours, raw)} "
                  f"(parts {' '.join(str(r['part']) for r in chosen)}); {goal}")


def keep_run(folder: Path, row: dict, raw: dict, ours: dict) -> str:
    """Write both sides' plan/settings and history into ``folder``; return lines that explain the run."""
    from pyfiji_dl.io.tables import write_csv
    from pyfiji_dl.qc.report import convergence_diagnosis

    lines = []
    for side, result in (("raw", raw), ("pyfiji-dl", ours)):
        target = folder / ("raw" if side == "raw" else "ours")
        target.mkdir(parents=True, exist_ok=True)
        history = result.get("history") or []
        if history:
            write_csv(target / "training_history.csv", history)
        diagnosis = convergence_diagnosis(history) if history else {"verdict": "no history"}
        if result.get("model_dir") and (Path(result["model_dir"]) / "qc").is_dir():
            shutil.copytree(Path(result["model_dir"]) / "qc", target / "qc", dirs_exist_ok=True)
        kept = {k: v for k, v in result.items() if k not in ("prediction", "history", "model_dir")}
        kept["convergence"] = diagnosis
        kept["score"] = {k: v for k, v in row.items() if k in ("raw", "ours", "raw_iou", "ours_iou")}
        (target / "run.json").write_text(json.dumps(kept, indent=1, default=str))
        lines.append("    " + side + ": " + _describe(result, diagnosis))
    return "\n".join(lines)


def _describe(result: dict, diagnosis: dict) -> str:
    """One line: the training settings, epochs done, last losses, thresholds and convergence verdict."""
    settings = result.get("plan") or result.get("settings") or {}
    history = result.get("history") or []
    patch = "x".join(str(p) for p in (settings.get("patch") or [])) or "?"
    text = (f"patch {patch} batch {settings.get('batch')} steps {settings.get('steps')} "
            f"lr {settings.get('lr')}")
    if "early_stopping_patience" in settings:
        text += (f" (halved after {settings['reduce_lr']['patience']} flat epochs, early stop "
                 f"{settings['early_stopping_patience']}")
        measured = settings.get("measured_in_budget")
        if measured:
            text += (f"; measured: ~{measured['epochs_fitting']} epochs fit, so {measured['reduce_lr_patience']} "
                     f"and {measured['early_stopping_patience']}")
        text += ")"
    done = result.get("epochs_done", len(history))
    total = result.get("epochs_total", settings.get("epochs"))
    text += f"; {done} epochs done (up to {total}"
    text += f", ~{settings['expected_epochs']} estimated in the budget)" if settings.get("expected_epochs") else ")"
    if history:
        last = history[-1]
        best = min((r.get("val_loss") for r in history if r.get("val_loss") is not None), default=None)
        text += (f", {sum(r.get('seconds') or 0 for r in history):.0f} s in epochs, last loss "
                 f"{last.get('loss', float('nan')):.4g} val {last.get('val_loss') or float('nan'):.4g}"
                 + (f" (best {best:.4g})" if best is not None else "")
                 + f", lr {last.get('learning_rate') or float('nan'):.2g}")
    if "thresholds" in result:
        text += f"; thresholds prob {result['thresholds']['prob']:.3f} nms {result['thresholds']['nms']:.2f}"
    text += f"; QC: {diagnosis.get('verdict')}"
    if diagnosis.get("suggestion"):
        text += f" ({diagnosis['suggestion']})"
    if "plan" in result and result["plan"]:
        text += "\n      plan reasons: " + "; ".join(f"{k}: {v}" for k, v in result["plan"]["reasons"].items())
    return text


def _ratio(ours: float, raw: float) -> str:
    return f"ratio {ours / raw:.3f}" if raw > 0 else f"difference {ours - raw:+.3f}"


def _line(row: dict) -> str:
    head = f"{row['family']:8s} {row['minutes']:g} min, held-out q{row['part']}"
    if row.get("runs"):
        digits = 3 if row["family"] == "stardist" else 2

        def each(side):
            return " ".join(f"{run[side]:.{digits}f}" for run in row["runs"])
        head += f", mean of {len(row['runs'])} runs (raw {each('raw')}; pyfiji-dl {each('ours')}; "
    else:
        head += " ("
    head += f"load {row['load']:.1f}): "
    if row["family"] == "stardist":
        return (head + f"raw F1 {row['raw']:.3f} IoU {row['raw_iou']:.3f} ({row['raw_seconds']:.0f} s) | "
                f"pyfiji-dl F1 {row['ours']:.3f} IoU {row['ours_iou']:.3f} ({row['ours_seconds']:.0f} s) | "
                f"F1 {_ratio(row['ours'], row['raw'])}")
    return (head + f"raw {row['raw']:+.2f} dB ({row['raw_seconds']:.0f} s) | pyfiji-dl {row['ours']:+.2f} dB "
            f"({row['ours_seconds']:.0f} s) | difference {row['ours'] - row['raw']:+.2f} dB")


if __name__ == "__main__":
    main()
