"""Benchmark: scoring 100 pairs of 1024 x 1024 label maps with ~500 objects each.

Our ``pyfiji_dl.qc.matching.match_dataset`` (IoU thresholds 0.1-0.9, per image and
pooled) against ``stardist.matching.matching_dataset`` called directly for the same
thresholds (target: at most 1.2x its time). The pooled numbers must agree.

Usage: python benchmarks/bench_qc.py [--pairs 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def label_maps(n_pairs: int, size: int = 1024, n_objects: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-14:15, -14:15]
    truths, predictions = [], []
    for _ in range(n_pairs):
        truth = np.zeros((size, size), np.int32)
        pred = np.zeros((size, size), np.int32)
        centres = rng.uniform(18, size - 18, (n_objects, 2)).astype(int)  # room for the shifted copy
        radii = rng.uniform(6, 13, n_objects)
        for label, ((cy, cx), r) in enumerate(zip(centres, radii), start=1):
            disc = yy ** 2 + xx ** 2 <= r * r
            truth[cy - 14:cy + 15, cx - 14:cx + 15][disc] = label
            if rng.random() < 0.93:  # missed objects, and the rest found slightly off
                dy, dx = rng.integers(-3, 4, 2)
                grown = yy ** 2 + xx ** 2 <= (r + rng.uniform(-2, 2)) ** 2
                pred[cy + dy - 14:cy + dy + 15, cx + dx - 14:cx + dx + 15][grown] = label
        truths.append(truth)
        predictions.append(pred)
    return truths, predictions


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    from stardist.matching import matching_dataset

    from pyfiji_dl.qc.matching import IOU_THRESHOLDS, match_dataset

    truths, predictions = label_maps(args.pairs)
    n_true = np.mean([len(np.unique(t)) - 1 for t in truths])
    print(f"{args.pairs} pairs of 1024x1024 label maps, {n_true:.0f} objects each on average")
    match_dataset(truths[:2], predictions[:2])  # numba compilation / cache load
    started = time.perf_counter()
    _, pooled = match_dataset(truths, predictions, thresholds=IOU_THRESHOLDS)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    # one call for all thresholds, so StarDist computes each overlap matrix only once
    reference = matching_dataset(truths, predictions, thresh=list(IOU_THRESHOLDS), show_progress=False,
                                 by_image=False)
    theirs = time.perf_counter() - started
    same = all(abs(row["f1"] - ref.f1) < 1e-12 and row["tp"] == ref.tp for row, ref in zip(pooled, reference))
    print(f"pyfiji_dl match_dataset (9 thresholds, per image + pooled): {ours:.2f} s")
    print(f"stardist matching_dataset (9 thresholds, pooled):           {theirs:.2f} s")
    print(f"ratio ours/stardist: {ours / theirs:.2f}x (target <= 1.2x); pooled results identical: {same}")
    print(f"F1 at IoU 0.5: {pooled[4]['f1']:.4f}")


if __name__ == "__main__":
    main()
