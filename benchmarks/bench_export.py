"""Benchmark: export sizes, validation and time for a small trained model of each family.

For StarDist 2D (and 3D), CARE, Noise2Void and U-Net with the default network sizes
(StarDist: 32 rays, depth 3, 32 filters; CARE/N2V: depth 2, 32 filters; U-Net: depth
4, 16 filters), trained for one short epoch on the real DSB2018 nuclei image, prints:

* the model folder's weights (``weights_best.h5``) and network parameter count;
* the BioImage Model Zoo package: zip size, the sizes of its two weights files
  (Keras HDF5, zipped SavedModel) and its test tensors, the offline validation status,
  the seconds the export (with validation) took;
* the Fiji plugin zip (StarDist plugin or CSBDeep 'Run your network'): size and seconds;
* the seconds ``open_model_source`` needs to unpack the package the first time and later.

Usage: python benchmarks/bench_export.py [--skip-3d] [--only stardist,care]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np


def write_data(root: Path) -> None:
    from stardist.data import test_image_nuclei_2d, test_image_nuclei_3d

    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

    image, labels = test_image_nuclei_2d(return_mask=True)
    rng = np.random.default_rng(0)
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
        crop = image[y:y + 256, x:x + 256]
        write_imagej_tiff(root / "seg" / "images" / f"f{i}.tif", crop, "YX")
        write_label_image(root / "seg" / "masks" / f"f{i}.tif", labels[y:y + 256, x:x + 256], "YX")
        clean = crop.astype(np.float32)
        noisy = (rng.poisson(clean / 8.0) * 8.0 + rng.normal(0, 20, clean.shape)).astype(np.float32)
        write_imagej_tiff(root / "care" / "low" / f"f{i}.tif", noisy, "YX")
        write_imagej_tiff(root / "care" / "GT" / f"f{i}.tif", clean, "YX")
        if i < 2:
            write_imagej_tiff(root / "n2v" / "images" / f"f{i}.tif", noisy, "YX")
    volume, mask = test_image_nuclei_3d(return_mask=True)
    for i, flip in enumerate([False, True]):
        v, m = (volume[:, :, ::-1], mask[:, :, ::-1]) if flip else (volume, mask)
        write_imagej_tiff(root / "seg3d" / "images" / f"v{i}.tif", np.ascontiguousarray(v), "ZYX")
        write_label_image(root / "seg3d" / "masks" / f"v{i}.tif", np.ascontiguousarray(m), "ZYX")


TRAIN = {
    "stardist": ["stardist", "--data", "seg", "--patch", "128", "--batch", "2", "--rays", "32"],
    "stardist3d": ["stardist", "--data", "seg3d", "--patch", "16,48,48", "--batch", "1", "--rays", "32",
                   "--depth", "2", "--filters", "16"],
    "care": ["care", "--data", "care", "--patch", "64", "--patches-per-image", "16", "--batch", "8"],
    "n2v": ["n2v", "--data", "n2v", "--patch", "64", "--batch", "16"],
    "unet": ["unet", "--data", "seg", "--patch", "128", "--batch", "2"],
}
FIJI = {"stardist": "stardist", "care": "csbdeep", "n2v": "csbdeep", "unet": "csbdeep"}


def megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f}"


def member_sizes(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as archive:
        return {info.filename: info.compress_size for info in archive.infolist()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-3d", action="store_true", help="leave out the 3D StarDist model")
    parser.add_argument("--only", help="comma-separated families (stardist, stardist3d, care, n2v, unet)")
    args = parser.parse_args(argv)
    names = [n for n in TRAIN if not (args.skip_3d and n == "stardist3d")]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]

    from pyfiji_dl.cli import main as cli
    from pyfiji_dl.export import export_bioimageio, export_fiji, open_model_source
    from pyfiji_dl.models import adapter_for

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        root = Path(tmp)
        write_data(root / "data")
        for name in names:
            family = "stardist" if name.startswith("stardist") else name
            command = list(TRAIN[name])
            command[command.index("--data") + 1] = str(root / "data" / command[command.index("--data") + 1])
            model_dir = root / "models" / name
            started = time.perf_counter()
            assert cli(["train", *command, "--model", str(model_dir), "--epochs", "1", "--steps", "4",
                        "--quiet"]) == 0, name
            train_seconds = time.perf_counter() - started
            parameters = adapter_for(family).load_model(model_dir).keras_model.count_params()

            package = export_bioimageio(model_dir, root / "out" / f"{name}.bioimageio.zip",
                                        authors=["Benchmark"])
            inside = member_sizes(package.path)
            fiji_size = fiji_seconds = None
            if name in FIJI:
                started = time.perf_counter()
                fiji_zip, _ = export_fiji(model_dir, root / "out" / f"{name}.fiji.zip", FIJI[name])
                fiji_seconds = time.perf_counter() - started
                fiji_size = fiji_zip.stat().st_size
            cache = root / "cache"
            started = time.perf_counter()
            open_model_source(package.path, cache_dir=cache)
            first_open = time.perf_counter() - started
            started = time.perf_counter()
            open_model_source(package.path, cache_dir=cache)
            later_open = time.perf_counter() - started
            rows.append({
                "model": name, "parameters": parameters, "train_s": train_seconds,
                "weights_best_MB": megabytes((model_dir / "weights_best.h5").stat().st_size),
                "package_MB": megabytes(package.size_bytes),
                "keras_h5_MB": megabytes(inside.get("keras_model.h5", 0)),
                "savedmodel_zip_MB": megabytes(inside.get("tf_saved_model.zip", 0)),
                "test_tensors_MB": megabytes(inside.get("test_input.npy", 0) + inside.get("test_output.npy", 0)),
                "validation": package.validation.status,
                "spec": f"{package.validation.format_version}/{package.validation.spec_status}",
                "export_s": package.seconds,
                "fiji_MB": megabytes(fiji_size) if fiji_size is not None else "-",
                "fiji_s": fiji_seconds,
                "open_first_s": first_open, "open_cached_s": later_open,
            })
            print(package.note.splitlines()[1], flush=True)

    columns = list(rows[0])
    print()
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c] if row[c] is not None else "-")
                         for c in columns))


if __name__ == "__main__":
    main()
