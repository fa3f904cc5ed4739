"""Benchmark: review least confident objects first vs in random order, then fine-tune.

A simulated reviewer on the bundled DSB2018 nuclei image (512x512, cut into sixteen
128x128 fields): a StarDist model is trained on three fields (``pyfiji-dl train``),
predicts eleven others (``pyfiji-dl predict``), and each round the reviewer corrects
K predicted objects, chosen least confident first or at random:

* an object that overlaps an annotated nucleus is replaced by the annotation;
* an object that overlaps none (a false positive) is deleted;
* the nearest annotated nucleus that no prediction found (IoU >= 0.5) is added next
  to the corrected object, as a reviewer adds what they see missing nearby.

The corrected fields are recorded (``pyfiji-dl corrections``) and the model is
fine-tuned on them for a fixed small budget (``pyfiji-dl fine-tune``, epochs x steps
fixed), then scored on two held-out fields (F1 at IoU 0.5, pooled). Both orders start
from the same model and get the same budget; the printed ratio compares their F1 gains. A
control gets the same budget without corrections (``train --from`` on the original data),
so the gain of more training alone is seen apart from the gain of the corrections.
Also timed: one loop, correct -> fine-tuned model -> new prediction of the pool.

Usage: python benchmarks/bench_review.py [--rounds 2] [--per-round 10] [--epochs 3] [--steps 10]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

FIELD = 128
TRAIN_FIELDS = (0, 1, 2)
HELD_OUT_FIELDS = (13, 14, 15)
ORDERS = ("confidence", "random")
# the control: the same fine-tuning budget on the original training data alone
CONTROL = "no corrections"


def field_slices(index: int):
    y, x = divmod(index, 512 // FIELD)
    return slice(y * FIELD, (y + 1) * FIELD), slice(x * FIELD, (x + 1) * FIELD)


def make_data(root: Path):
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

    image, labels = test_image_nuclei_2d(return_mask=True)
    truth = {}
    for index in range(16):
        ys, xs = field_slices(index)
        name = f"field{index:02d}"
        truth[name] = labels[ys, xs].astype(np.int32)
        if index in TRAIN_FIELDS:
            folder = root / "train"
        elif index in HELD_OUT_FIELDS:
            folder = root / "heldout"
        else:
            folder = root / "pool"
        write_imagej_tiff(folder / "images" / f"{name}.tif", image[ys, xs], "YX")
        if folder.name != "pool":
            write_label_image(folder / "masks" / f"{name}.tif", truth[name], "YX")
    return truth


def run(*args) -> None:
    from pyfiji_dl.cli import main

    code = main([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"pyfiji-dl {args[0]} failed")


def predict(model: Path, images: Path, out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    run("--no-worker", "predict", model, images, "-o", out, "--quiet")
    return out


def f1_held_out(model: Path, root: Path, tag: str) -> dict:
    from pyfiji_dl.io.tiff import read_image
    from pyfiji_dl.qc.matching import match_dataset

    out = predict(model, root / "heldout" / "images", root / f"heldout_pred_{tag}")
    truths, preds = [], []
    for index in HELD_OUT_FIELDS:
        name = f"field{index:02d}"
        truths.append(read_image(root / "heldout" / "masks" / f"{name}.tif")[0])
        preds.append(read_image(out / "masks" / f"{name}.tif")[0])
    _, pooled = match_dataset(truths, preds, thresholds=(0.5,))
    return pooled[0]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


class Reviewer:
    """Remembers what was corrected in each field and re-applies it to a new prediction."""

    def __init__(self, truth: dict, order: str, seed: int = 0):
        self.truth, self.order = truth, order
        self.rng = np.random.default_rng(seed)
        self.painted: dict = {}   # field -> set of annotation ids drawn
        self.deleted: dict = {}   # field -> list of masks of deleted objects
        self.n_corrected = 0

    def reviewed(self, name: str) -> np.ndarray:
        mask = np.zeros(self.truth[name].shape, bool)
        for gid in self.painted.get(name, ()):
            mask |= self.truth[name] == gid
        for deleted in self.deleted.get(name, ()):
            mask |= deleted
        return mask

    def choose(self, predictions: Path, k: int) -> list:
        """K predicted objects not yet reviewed: (field, label), in this reviewer's order."""
        from pyfiji_dl.io.tables import read_csv
        from pyfiji_dl.io.tiff import read_image

        candidates = []
        for name in sorted(self.truth):
            table = predictions / "objects" / f"{name}.csv"
            if not table.exists():
                continue
            labels = read_image(predictions / "masks" / f"{name}.tif")[0]
            reviewed = self.reviewed(name)
            for row in read_csv(table):
                obj = labels == int(row["label"])
                if reviewed[obj].mean() < 0.5:
                    candidates.append((float(row["confidence"] or 1.0), name, int(row["label"])))
        if self.order == "confidence":
            candidates.sort()
        else:
            self.rng.shuffle(candidates)
        return [(name, label) for _, name, label in candidates[:k]]

    def correct(self, predictions: Path, chosen: list) -> None:
        from pyfiji_dl.io.tiff import read_image

        for name, label in chosen:
            labels = read_image(predictions / "masks" / f"{name}.tif")[0]
            truth = self.truth[name]
            obj = labels == label
            ids, counts = np.unique(truth[obj], return_counts=True)
            overlapping = [(c, g) for g, c in zip(ids, counts) if g]
            painted = self.painted.setdefault(name, set())
            if overlapping:
                gid = int(max(overlapping)[1])
                painted.add(gid)  # replaced by the annotation
                anchor = truth == gid
            else:
                self.deleted.setdefault(name, []).append(obj)  # a false positive
                anchor = obj
            missed = [g for g in np.unique(truth) if g and g not in painted
                      and max((iou(truth == g, labels == p) for p in np.unique(labels[truth == g]) if p),
                              default=0.0) < 0.5]
            if missed:
                centre = np.argwhere(anchor).mean(axis=0)
                nearest = min(missed, key=lambda g: np.linalg.norm(np.argwhere(truth == g).mean(axis=0) - centre))
                painted.add(int(nearest))  # the missed nucleus next to it
            self.n_corrected += 1

    def corrected_map(self, name: str, prediction: np.ndarray) -> np.ndarray:
        """The new prediction with every correction so far applied."""
        truth = self.truth[name]
        result = prediction.astype(np.int32).copy()
        drawn = [truth == g for g in sorted(self.painted.get(name, ()))]
        for region in drawn + list(self.deleted.get(name, ())):
            for p in np.unique(result[region]):
                if p and (result[region] == p).sum() > 0.3 * (result == p).sum():
                    result[result == p] = 0
        next_id = int(result.max()) + 1
        for offset, region in enumerate(drawn):
            result[region] = next_id + offset
        return result

    def touched(self) -> list:
        return sorted(set(self.painted) | set(self.deleted))


def write_corrections(reviewer: Reviewer, root: Path, predictions: Path, folder: Path) -> None:
    from pyfiji_dl.annotation.corrections import record_corrections
    from pyfiji_dl.io.tiff import read_image, write_label_image

    shutil.rmtree(folder, ignore_errors=True)
    for name in reviewer.touched():
        prediction = read_image(predictions / "masks" / f"{name}.tif")[0]
        (folder / "images").mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "pool" / "images" / f"{name}.tif", folder / "images" / f"{name}.tif")
        write_label_image(folder / "masks" / f"{name}.tif", reviewer.corrected_map(name, prediction), "YX")
        record_corrections(predictions / "masks" / f"{name}.tif", folder / "masks" / f"{name}.tif", folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-round", type=int, default=10, help="objects corrected per round (K)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tune epochs per round")
    parser.add_argument("--steps", type=int, default=10, help="fine-tune steps per epoch")
    parser.add_argument("--base-epochs", type=int, default=30)
    args = parser.parse_args()
    budget = ["--patch", "64", "--batch", "4"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = make_data(root)
        pool_truth = {n: t for n, t in truth.items() if (root / "pool" / "images" / f"{n}.tif").exists()}
        started = time.perf_counter()
        base = root / "models" / "base"
        run("train", "stardist", "--data", root / "train", "--model", base, "--epochs", args.base_epochs,
            "--steps", 10, "--rays", 32, "--depth", 2, "--filters", 16, "--lr", 1e-3, *budget, "--quiet")
        print(f"base model: {len(TRAIN_FIELDS)} fields, {args.base_epochs} x 10 steps, "
              f"{time.perf_counter() - started:.0f} s")
        base_f1 = f1_held_out(base, root, "base")
        base_pred = predict(base, root / "pool" / "images", root / "pool_pred_base")
        results = {order: [(0, base_f1)] for order in ORDERS + (CONTROL,)}
        loop_times = []
        model = base
        for round_index in range(1, args.rounds + 1):
            child = root / "models" / f"control_v{round_index + 1}"
            run("train", "stardist", "--data", root / "train", "--model", child, "--from", model,
                "--epochs", args.epochs, "--steps", args.steps, "--lr", 1e-3, "--patch", "64,64", "--batch", "4",
                "--quiet")
            model = child
            results[CONTROL].append((0, f1_held_out(child, root, f"control{round_index}")))
        for order in ORDERS:
            reviewer = Reviewer(pool_truth, order)
            model, predictions = base, base_pred
            for round_index in range(1, args.rounds + 1):
                chosen = reviewer.choose(predictions, args.per_round)
                if not chosen:
                    raise SystemExit(f"{model.name} found no objects to review: train the base model longer "
                                     "(--base-epochs)")
                reviewer.correct(predictions, chosen)
                t0 = time.perf_counter()
                corrections = root / f"corrections_{order}_{round_index}"
                write_corrections(reviewer, root, predictions, corrections)
                t1 = time.perf_counter()
                child = root / "models" / f"{order}_v{round_index + 1}"
                run("fine-tune", model, "--corrections", corrections, "--data", root / "train", "-o", child,
                    "--epochs", args.epochs, "--steps", args.steps, "--lr", 1e-3, *budget, "--quiet")
                t2 = time.perf_counter()
                predictions = predict(child, root / "pool" / "images", root / f"pool_pred_{order}_{round_index}")
                t3 = time.perf_counter()
                loop_times.append((t1 - t0, t2 - t1, t3 - t2))
                model = child
                results[order].append((reviewer.n_corrected, f1_held_out(child, root, f"{order}{round_index}")))
        print(f"\nF1 @ IoU 0.5 on {len(HELD_OUT_FIELDS)} held-out fields vs objects corrected "
              f"(K = {args.per_round} per round, fine-tune {args.epochs} x {args.steps} steps per round):")
        columns = ORDERS + (CONTROL,)
        print(f"  {'round':>5} {'corrected':>9}  " + "  ".join(f"{c:>26}" for c in columns))
        for row in range(args.rounds + 1):
            cells = []
            for c in columns:
                m = results[c][row][1]
                cells.append(f"{m['f1']:.3f} (tp {m['tp']:>2} fp {m['fp']:>2} fn {m['fn']:>2})")
            print(f"  {row:>5} {results[ORDERS[0]][row][0]:>9}  " + "  ".join(f"{c:>26}" for c in cells))
        print(f"  ({CONTROL}: the same fine-tuning rounds on the {len(TRAIN_FIELDS)} original fields only; "
              f"{results[ORDERS[0]][0][1]['n_true']} held-out nuclei)")
        gains = {o: results[o][-1][1]["f1"] - base_f1["f1"] for o in columns}
        ratio = f"{gains['confidence'] / gains['random']:.2f}" if abs(gains["random"]) > 1e-9 else "n/a"
        print(f"  F1 gain after {results['random'][-1][0]} corrections: least confident first "
              f"{gains['confidence']:+.3f}, random {gains['random']:+.3f} (ratio {ratio}); "
              f"same training without corrections {gains[CONTROL]:+.3f}")
        mean = np.mean(loop_times, axis=0)
        print(f"\nOne loop (correct -> fine-tuned model -> new prediction of {len(pool_truth)} fields), mean of "
              f"{len(loop_times)}: {mean.sum():.0f} s = corrections recorded {mean[0]:.1f} s + fine-tune "
              f"(incl. thresholds, QC, parent-vs-child report) {mean[1]:.0f} s + prediction {mean[2]:.0f} s")
        print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
