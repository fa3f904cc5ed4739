"""Benchmark: StarDist 2D batch prediction on one process against Dask workers.

Predicts the same ``--n-images`` images of ``--size`` x ``--size`` pixels (mosaics of
flipped/rotated quarters of the bundled DSB2018 nuclei image, each with its own
noise) with every output written (label map, ROI zip, object table, summary):

* 1 process: ``predict_paths`` (TensorFlow uses all cores),
* ``workers=2``: ``predict_paths_distributed`` starting and closing its own local
  cluster (start-up and the workers' model loading are in the time),
* existing cluster: a ``LocalCluster`` of 2 workers started beforehand, passed with
  ``scheduler=`` (as an HPC cluster would be); first run (workers load the model),
  then again with ``overwrite=True`` (model already loaded: the steady state).

Throughput is images per minute of wall time, set against the ideal linear figure
(2x the single process) and its ratio. All runs must predict every image and
produce the same object tables as the single process.

The model (StarDist's default network: 32 filters, depth 3, 32 rays, grid 2,
trained briefly) and the images are kept in ``--cache-dir`` and reused.

Usage: python benchmarks/bench_distributed.py [--n-images 200] [--size 1024]
       [--workers 2] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "pyfiji_dl_bench_distributed"


def ensure_model(model_dir: Path) -> Path:
    """A StarDist 2D model with the default network, trained for a minute or two on CPU."""
    if (model_dir / "pyfiji_dl.json").exists() and (model_dir / "provenance.json").exists():
        print(f"model: reusing {model_dir}")
        return model_dir
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image
    from pyfiji_dl.families.stardist import FAMILY, StarDistOptions

    if model_dir.exists():
        shutil.rmtree(model_dir)  # an interrupted earlier training
    data = model_dir.parent / "training_data"
    shutil.rmtree(data, ignore_errors=True)
    image, labels = test_image_nuclei_2d(return_mask=True)
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
        write_imagej_tiff(data / "images" / f"q{i}.tif", image[y:y + 256, x:x + 256], "YX")
        write_label_image(data / "masks" / f"q{i}.tif", labels[y:y + 256, x:x + 256], "YX")
    print(f"model: training a StarDist 2D model into {model_dir} (a few minutes on a CPU) ...", flush=True)
    started = time.perf_counter()
    # throughput depends on the network and on the number of objects found, not on
    # accuracy: the default network, trained just enough to find nuclei
    options = StarDistOptions(epochs=8, steps=25, patch=(128, 128), batch=4)
    FAMILY.train(data, model_dir, options, progress=False)
    print(f"model: trained in {time.perf_counter() - started:.0f} s")
    return model_dir


def ensure_images(folder: Path, n_images: int, size: int) -> Path:
    """``n_images`` mosaics of ``size`` x ``size`` pixels of the nuclei image, with noise."""
    import numpy as np
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.io.tiff import write_imagej_tiff

    existing = sorted(folder.glob("img_*.tif")) if folder.exists() else []
    if len(existing) == n_images:
        print(f"images: reusing {n_images} in {folder}")
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    image = test_image_nuclei_2d().astype(np.float32)
    quarters = [image[y:y + 256, x:x + 256] for y in (0, 256) for x in (0, 256)]
    cells = -(-size // 256)
    for index in range(n_images):
        rng = np.random.default_rng(index)
        rows = []
        for _ in range(cells):
            row = []
            for _ in range(cells):
                tile = np.rot90(quarters[rng.integers(4)], k=int(rng.integers(4)))
                row.append(tile[:, ::-1] if rng.integers(2) else tile)
            rows.append(np.concatenate(row, axis=1))
        mosaic = np.concatenate(rows, axis=0)[:size, :size]
        noisy = mosaic + rng.normal(0, 4, mosaic.shape)
        write_imagej_tiff(folder / f"img_{index:04d}.tif", np.clip(noisy, 0, 65535).astype(np.uint16), "YX")
    print(f"images: wrote {n_images} of {size}x{size} to {folder}")
    return folder


def timed_run(label: str, run) -> dict:
    print(f"running: {label} ...", flush=True)
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"{label}: {len(result.failed)} image(s) failed, e.g. {result.failed[0]}")
    return {"label": label, "seconds": seconds, "images": len(result.done)}


def same_object_tables(expected: Path, actual: Path) -> bool:
    names = sorted(p.name for p in (expected / "objects").glob("*.csv"))
    return names == sorted(p.name for p in (actual / "objects").glob("*.csv")) and all(
        (expected / "objects" / n).read_bytes() == (actual / "objects" / n).read_bytes() for n in names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=200, help="images to predict (default 200)")
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help=f"where the model and images are kept between runs (default {DEFAULT_CACHE})")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from distributed import LocalCluster

    from pyfiji_dl.prediction.distributed import predict_paths_distributed
    from pyfiji_dl.prediction.run import predict_paths

    cache = args.cache_dir
    model = ensure_model(cache / "model")
    images = ensure_images(cache / f"images_{args.n_images}x{args.size}", args.n_images, args.size)
    n = args.workers
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        out = Path(tmp)
        runs = [timed_run("1 process (predict_paths)",
                          lambda: predict_paths(model, [images], out / "single", progress=False))]
        runs.append(timed_run(f"workers={n} (own LocalCluster, start-up included)",
                              lambda: predict_paths_distributed(model, [images], out / "workers", workers=n,
                                                                progress=False)))
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            address = cluster.scheduler_address
            runs.append(timed_run(f"scheduler= LocalCluster of {n}, first run",
                                  lambda: predict_paths_distributed(model, [images], out / "cluster",
                                                                    scheduler=address, progress=False)))
            runs.append(timed_run(f"scheduler= LocalCluster of {n}, model loaded",
                                  lambda: predict_paths_distributed(model, [images], out / "cluster",
                                                                    scheduler=address, overwrite=True,
                                                                    progress=False)))
        identical = all(same_object_tables(out / "single", out / name) for name in ("workers", "cluster"))

    single = args.n_images / runs[0]["seconds"] * 60
    ideal = n * single
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\nStarDist 2D prediction, {args.n_images} images of {args.size}x{args.size}, all outputs written; "
          f"{cores} cores; ideal = {n} x the single process")
    header = f"{'setup':<48} {'seconds':>8} {'images/min':>11} {'speed-up':>9} {'ideal':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for run in runs:
        throughput = run["images"] / run["seconds"] * 60
        is_single = run is runs[0]
        print(f"{run['label']:<48} {run['seconds']:>8.1f} {throughput:>11.1f} {throughput / single:>8.2f}x "
              f"{'' if is_single else f'{ideal:.1f}':>8} {'' if is_single else f'{throughput / ideal:.2f}':>6}")
    print("speed-up: against the single process; ratio: throughput / ideal. With few cores the single "
          "process already runs its network on all of them, so the ideal is out of reach there.")
    print(f"object tables identical to the single process: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
