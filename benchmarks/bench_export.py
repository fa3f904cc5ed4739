"""Benchmark: export sizes, validation and time for a small trained model of each family.

For StarDist 2D (and 3D), CARE, Noise2Void and U-Net with the default network sizes
(StarDist: 32 rays, depth 3, 32 filters; CARE/N2V: depth 2, 32 filters; U-Net: depth
4, 16 filters), trained for one short epoch on the real DSB2018 nuclei image, prints:

* the model folder's weights (``weights_best.h5``) and network parameter count;
* the BioImage Model Zoo package: zip size, the sizes of its two weights files
  (Keras HDF5, zipped SavedModel) and its test tensors, the offline validation status,
  the seconds the export (with validation) took;
* the Fiji plugin zip (StarDist plugin or CSBDeep 'Run your network'): size and seconds;
* the seconds ``open_model_source`` needs to unpack the package the first time and later;
* per consumer of the exports, the seconds to load the SavedModel and the largest difference
  of its output from the Python network's on the package's test input (absolute, and as a
  share of the output range), with the load time as a ratio to Python TensorFlow's in this
  process: Python TensorFlow (``tf.saved_model.load``, what ``pyfiji-dl`` validates with),
  TensorFlow for Java 1.15 (the StarDist/CSBDeep Fiji plugins; their zip and the package's
  SavedModel), TensorFlow for Java 0.5.0 = TensorFlow 2.10.1 (deepImageJ 3 / JDLL), both
  through the test harness in ``tests/java``, and bioimageio.core in a throw-away venv with
  TensorFlow >= 2.16 and Keras 3 (its ``test_model`` status for both weights formats).

Usage: python benchmarks/bench_export.py [--skip-3d] [--only stardist,care]
       [--bioimageio-core-venv DIR | --no-bioimageio-core]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the Java consumer harness of the tests


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
    parser.add_argument("--bioimageio-core-venv", type=Path,
                        help="a venv with bioimageio.core, TensorFlow >= 2.16 and Keras 3 (default: build a throw-away "
                             "one in a temporary folder with pip; never pyfiji_dl's own environment)")
    parser.add_argument("--no-bioimageio-core", action="store_true", help="leave bioimageio.core out")
    args = parser.parse_args(argv)
    names = [n for n in TRAIN if not (args.skip_3d and n == "stardist3d")]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]

    from pyfiji_dl.cli import main as cli
    from pyfiji_dl.export import export_bioimageio, export_fiji, open_model_source
    from pyfiji_dl.models import adapter_for

    rows, consumer_jobs = [], []
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
            consumer_jobs.append(consumer_job(name, model_dir, package.path,
                                              root / "out" / f"{name}.fiji.zip" if name in FIJI else None,
                                              root / "consumers" / name))

        consumer_rows = run_consumers(consumer_jobs, root / "consumers", args)

    columns = list(rows[0])
    print()
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c] if row[c] is not None else "-")
                         for c in columns))
    print()
    print("Consumers: load time of the SavedModel (ratio to Python TensorFlow's) and largest difference of its output "
          "from the Python network on the package's test input (bioimageio.core: with the package's pre- and "
          "postprocessing, against the package's test output)")
    print("model | export | consumer | runs | load_s | load_ratio | largest_difference | share_of_range | note")
    for row in consumer_rows:
        print(" | ".join(str(row.get(c, "-")) for c in ("model", "export", "consumer", "runs", "load_s", "load_ratio",
                                                         "difference", "share", "note")))


# --- consumers ------------------------------------------------------------------------------

def consumer_job(name: str, model_dir: Path, package: Path, fiji_zip: Path | None, folder: Path) -> dict:
    """Inputs and Python reference outputs for one model, and the Python SavedModel consumer's figures."""
    import tensorflow as tf
    import yaml

    from pyfiji_dl.export.fiji import _fiji_network
    from pyfiji_dl.export.network import call_network, load_exportable
    from pyfiji_dl.export.validation import apply_processing

    folder.mkdir(parents=True)
    with zipfile.ZipFile(package) as archive:
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
        test_input = np.load(archive.open("test_input.npy"))
        archive.extract(rdf["weights"]["tensorflow_saved_model_bundle"]["source"], folder)
    saved_model = folder / "package_saved_model"
    with zipfile.ZipFile(folder / rdf["weights"]["tensorflow_saved_model_bundle"]["source"]) as archive:
        archive.extractall(saved_model)
    network_input = apply_processing(test_input, rdf["inputs"][0]["preprocessing"])
    exportable = load_exportable(model_dir)
    python = exportable.predict(network_input)
    np.save(folder / "test_input.npy", test_input)
    with zipfile.ZipFile(package) as archive:
        test_output = np.load(archive.open("test_output.npy"))
    job = {"model": name, "package": package, "saved_model": saved_model, "network_input": network_input,
           "python": python, "test_output": test_output, "fiji": None}
    started = time.perf_counter()
    signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    job["python_load"] = time.perf_counter() - started
    job["python_saved_model"] = signature(input=tf.constant(network_input))["output"].numpy()
    if fiji_zip is not None:
        fiji_folder = folder / "fiji_saved_model"
        with zipfile.ZipFile(fiji_zip) as archive:
            archive.extractall(fiji_folder)
        # the plugin normalises with percentiles (the package's preprocessing); a Noise2Void zip takes raw values
        fiji_input = test_input if name == "n2v" else network_input
        job["fiji"] = (fiji_folder, fiji_input, call_network(_fiji_network(exportable), fiji_input))
    return job


def difference_cells(got, expected) -> dict:
    from java_consumers import largest_difference

    if got is None or np.shape(got) != np.shape(expected):
        return {"difference": "-", "share": "-", "note": f"output shape {np.shape(got)} != {np.shape(expected)}"}
    difference, output_range = largest_difference(got, expected)
    return {"difference": f"{difference:.3g}", "share": f"{difference / max(output_range, 1e-30):.2g}"}


def run_consumers(jobs: list, folder: Path, args) -> list:
    from java_consumers import ConsumerUnavailable, consumer

    import tensorflow as tf

    rows = []
    for job in jobs:
        rows.append({"model": job["model"], "export": "bioimageio", "consumer": f"Python TensorFlow {tf.__version__}",
                     "runs": "yes", "load_s": f"{job['python_load']:.3f}", "load_ratio": "1.00",
                     **difference_cells(job["python_saved_model"], job["python"])})
    for runtime_name in ("tf1.15", "tf2.10"):
        try:
            runtime = consumer(runtime_name)
        except ConsumerUnavailable as exc:
            rows.append({"model": "all", "consumer": runtime_name, "runs": "not measured", "note": str(exc)})
            continue
        work = [(job, "bioimageio", job["saved_model"], job["network_input"], job["python"]) for job in jobs]
        if runtime_name == "tf1.15":
            work += [(job, "fiji", *job["fiji"]) for job in jobs if job["fiji"] is not None]
        results = runtime.run([(saved_model, x) for _, _, saved_model, x, _ in work])
        for (job, export, _, _, expected), result in zip(work, results):
            row = {"model": job["model"], "export": export,
                   "consumer": f"TensorFlow for Java {result.tensorflow_version}", "runs": "yes" if result.ok else "NO"}
            if result.ok:
                row.update(load_s=f"{result.load_seconds:.3f}", load_ratio=f"{result.load_seconds / job['python_load']:.2f}",
                           **difference_cells(result.output, expected))
            else:
                row["note"] = result.error[:200]
            rows.append(row)
    if not args.no_bioimageio_core:
        rows += run_bioimageio_core(jobs, folder, args.bioimageio_core_venv)
    return rows


def run_bioimageio_core(jobs: list, folder: Path, venv: Path | None) -> list:
    """bioimageio.core in a separate venv (TensorFlow >= 2.16, Keras 3): never pyfiji_dl's environment."""
    if venv is None:
        venv = folder / "bioimageio-core-venv"
        try:
            make_core_venv(venv)
        except (OSError, subprocess.CalledProcessError) as exc:
            return [{"model": "all", "consumer": "bioimageio.core", "runs": "not measured",
                     "note": f"could not build a throw-away venv ({exc})"}]
    arguments = []
    for job in jobs:
        arguments += [str(job["package"]), str(folder / job["model"] / "test_input.npy"),
                      str(folder / job["model"] / "bioimageio_core_output.npy")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # bioimageio.core unzips SavedModel weights below its working directory: keep that in the temporary folder
    finished = subprocess.run([str(venv / "bin" / "python"), str(HERE / "bioimageio_core_probe.py"), *arguments],
                              capture_output=True, text=True, env=env, timeout=3600, cwd=folder)
    records = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    rows = []
    for job, record in zip(jobs, records):
        python_load = job["python_load"]
        status = record["test_tensorflow_saved_model_bundle"]
        row = {"model": job["model"], "export": "bioimageio",
               "consumer": f"bioimageio.core {record['bioimageio_core']} (TF {record['tensorflow']}, Keras 3)",
               "runs": "yes" if record.get("ok") else "NO",
               "note": f"test_model: SavedModel {status}, keras_hdf5 {record['test_keras_hdf5']}"
                       + ("" if status == "passed" else f" {record['errors_tensorflow_saved_model_bundle'][:1]}")}
        if record.get("ok"):
            # with the package's pre/postprocessing, as bioimageio.core runs it: against the test output
            output = np.load(folder / job["model"] / "bioimageio_core_output.npy")
            cells = difference_cells(output, job["test_output"])
            row.update(load_s=f"{record['load_seconds']:.3f}", load_ratio=f"{record['load_seconds'] / python_load:.2f}",
                       difference=cells["difference"], share=cells["share"])
            row["note"] += cells.get("note", "") and f"; {cells['note']}"
            if output.shape == job["test_output"].shape:
                # bioimageio's reproducibility rule: |difference| > 1e-3 + 1e-3 |expected| counts as mismatched
                mismatched = np.abs(output - job["test_output"]) > 1e-3 + 1e-3 * np.abs(job["test_output"])
                row["note"] += f"; {1e6 * mismatched.mean():.0f} mismatched per million"
        else:
            row["note"] += f"; {record.get('error', '')}"
        rows.append(row)
    if len(records) < len(jobs):
        rows.append({"model": "all", "consumer": "bioimageio.core", "runs": "NO",
                     "note": f"the probe stopped after {len(records)} package(s): {finished.stderr[-300:]}"})
    return rows


def make_core_venv(venv: Path) -> None:
    """A venv with bioimageio.core (the version beside pyfiji_dl's pinned bioimageio.spec) and Keras 3."""
    from importlib.metadata import version

    spec_version = version("bioimageio.spec")
    print(f"building a throw-away venv for bioimageio.core in {venv} (pip, a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # pydantic 2.14 breaks bioimageio.spec 0.5.12's serialisers (pyproject.toml pins it below 2.14 too)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "bioimageio.core",
                    f"bioimageio.spec=={spec_version}", "pydantic<2.14", "tensorflow-cpu>=2.16,<2.19"],
                   check=True, timeout=3600)


if __name__ == "__main__":
    main()
