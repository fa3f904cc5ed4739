"""Exports with tiny models of every family: BioImage Model Zoo packages validated offline,
predictions from a package identical to those from the model folder, Fiji SavedModel zips
that reproduce the Keras networks, and clear errors for the wrong model or file."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

pytestmark = pytest.mark.slow

FAMILIES = ("stardist", "care", "n2v", "unet")
TINY = ["--epochs", "1", "--steps", "2", "--quiet"]


def run_cli(*args):
    return main([str(a) for a in args])


def noisy(clean, seed):
    rng = np.random.default_rng(seed)
    return (rng.poisson(clean / 8.0) * 8.0 + rng.normal(0, 20, clean.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def offline():
    """Every HTTP request fails (and is recorded): validation must not need the network."""
    import httpx

    calls = []

    def refuse(self, request, *args, **kwargs):
        calls.append(str(request.url))
        raise httpx.ConnectError("no network in this test", request=request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.Client, "send", refuse)
        yield calls


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d(return_mask=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory, nuclei):
    """A tiny trained model folder per family (training data on disk, named in provenance.json)."""
    image, labels = nuclei
    data = tmp_path_factory.mktemp("export_data")
    for i, (y, x) in enumerate([(0, 0), (0, 128), (128, 0), (128, 128)]):
        write_imagej_tiff(data / "seg" / "images" / f"f{i}.tif", image[y:y + 128, x:x + 128], "YX")
        write_label_image(data / "seg" / "masks" / f"f{i}.tif", labels[y:y + 128, x:x + 128], "YX")
    clean = image.astype(np.float32)
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0)]):
        field = clean[y:y + 128, x:x + 128]
        write_imagej_tiff(data / "care" / "low" / f"f{i}.tif", noisy(field, i), "YX")
        write_imagej_tiff(data / "care" / "GT" / f"f{i}.tif", field, "YX")
    write_imagej_tiff(data / "n2v" / "images" / "noisy.tif", noisy(clean[:128, :128], 9), "YX")

    root = tmp_path_factory.mktemp("export_models")
    commands = {
        "stardist": ["stardist", "--data", data / "seg", "--patch", "64", "--batch", "2", "--rays", "8",
                     "--depth", "1", "--filters", "8"],
        "care": ["care", "--data", data / "care", "--patch", "32", "--patches-per-image", "8", "--batch", "4",
                 "--depth", "1", "--filters", "8"],
        "n2v": ["n2v", "--data", data / "n2v", "--patch", "32", "--batch", "4", "--depth", "1", "--filters", "8"],
        "unet": ["unet", "--data", data / "seg", "--patch", "64", "--batch", "2", "--depth", "2", "--filters", "4"],
    }
    folders = {}
    for family, args in commands.items():
        folders[family] = root / family
        assert run_cli("train", *args, "--model", folders[family], *TINY) == 0, family
    folders["data"] = data
    return folders


@pytest.fixture(scope="module")
def packages(models, tmp_path_factory, offline):
    from pyfiji_dl.export import export_bioimageio

    out = tmp_path_factory.mktemp("packages")
    return {family: export_bioimageio(models[family], out / f"{family}.bioimageio.zip",
                                      authors=[{"name": "Test Author", "affiliation": "Lab"}])
            for family in FAMILIES}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("package_cache")


def read_package(path):
    import yaml

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
        arrays = {name: np.load(archive.open(name)) for name in ("test_input.npy", "test_output.npy")}
        cover = archive.read(rdf["covers"][0]["source"])
        readme = archive.read(rdf["documentation"]["source"]).decode()
    return rdf, names, arrays, cover, readme


def keras_model_of(model_dir):
    from pyfiji_dl.models import adapter_for
    from pyfiji_dl.models.card import read_card

    return adapter_for(read_card(model_dir).family).load_model(model_dir)


def percentile_normalise(batch, low, high):
    lo = np.percentile(batch, low, axis=(1, 2), keepdims=True)
    hi = np.percentile(batch, high, axis=(1, 2), keepdims=True)
    return ((batch - lo) / (hi - lo + 1e-6)).astype(np.float32)


def stardist_single_output(model, x):
    """StarDist's two outputs as the Fiji plugin wants them: one tensor at the input size,
    probability at the first pixel of each grid cell (zeros elsewhere), distances repeated."""
    prob, dist = (np.asarray(o) for o in model.keras_model(x, training=False)[:2])
    gy, gx = model.config.grid
    up_prob = np.zeros(x.shape[:3] + (1,), np.float32)
    up_prob[:, ::gy, ::gx] = prob
    up_dist = np.repeat(np.repeat(dist, gy, axis=1), gx, axis=2)
    return np.concatenate([up_prob, up_dist], axis=-1)


# --- BioImage Model Zoo packages ---------------------------------------------------------------

def test_packages_pass_offline_validation_with_both_weights_formats(packages, offline):
    for family, result in packages.items():
        report = result.validation
        assert report.status == "passed", (family, report.summary())
        assert report.spec_status == "valid-format" and not report.errors, (family, report.summary())
        assert set(report.reproduced) == {"keras_hdf5", "tensorflow_saved_model_bundle"}, family
        assert all(ok for _, ok, _ in report.tests), (family, report.tests)
        assert "PASSED" in result.note and str(result.path) in result.note
        assert result.size_bytes == result.path.stat().st_size > 0
    assert offline == []  # no request was even tried


def test_package_content(packages, models):
    import imageio.v3 as iio

    for family, result in packages.items():
        rdf, names, arrays, cover, readme = read_package(result.path)
        assert rdf["format_version"].startswith("0.5") and rdf["type"] == "model"
        assert set(rdf["weights"]) == {"keras_hdf5", "tensorflow_saved_model_bundle"}
        assert rdf["weights"]["tensorflow_saved_model_bundle"]["parent"] == "keras_hdf5"
        for name in ("pyfiji_dl.json", "config.json", "weights_best.h5", "keras_model.h5", "tf_saved_model.zip",
                     "test_input.npy", "test_output.npy", "README.md", "cover.png", "qc_loss_curves.png"):
            assert name in names, (family, name)
        assert cover.startswith(b"\x89PNG")
        assert iio.imread(cover, extension=".png").shape == (256, 512, 3)  # input | output, 2:1
        assert rdf["authors"] == [{"name": "Test Author", "affiliation": "Lab"}]
        assert rdf["config"]["pyfiji_dl"]["format"] == "pyfiji_dl.bioimageio/1"
        assert rdf["config"]["pyfiji_dl"]["card"] == json.loads((models[family] / "pyfiji_dl.json").read_text())
        deepimagej = rdf["config"]["deepimagej"]
        assert deepimagej["pyramidal_model"] is False and deepimagej["allow_tiling"] is True
        assert deepimagej["model_keys"]["tensorflow_siganture_def"].endswith("DEFAULT_SERVING_SIGNATURE_DEF_KEY")
        macro = deepimagej["prediction"]["preprocess"][0]["kwargs"]
        assert macro in names
        assert "## Validation" in readme and "doi:10.1007/978-3-319-24574-4_28" in readme  # U-Net cited
        assert arrays["test_input.npy"].dtype == np.float32
        minimum = [axis["size"]["min"] for axis in rdf["inputs"][0]["axes"] if axis["type"] == "space"]
        assert all(s >= m for s, m in zip(arrays["test_input.npy"].shape[1:-1], minimum)), (family, minimum)
        # the test image is a real training image, not a synthetic one
        assert "training image" in readme and "synthetic" not in readme

    rdf, names, _, _, readme = read_package(packages["stardist"].path)
    card = json.loads((models["stardist"] / "pyfiji_dl.json").read_text())
    stardist = rdf["config"]["stardist"]
    assert stardist["thresholds"] == card["thresholds"] and stardist["n_rays"] == 8 and stardist["grid"] == [2, 2]
    assert stardist["weights"] == "weights_best.h5" and stardist["config"]["n_rays"] == 8
    assert "thresholds.json" in names and "stardist_postprocessing.ijm" in names
    assert rdf["config"]["deepimagej"]["prediction"]["postprocess"][0]["kwargs"] == "stardist_postprocessing.ijm"
    assert rdf["inputs"][0]["preprocessing"][-2]["id"] == "scale_range"  # between the spec's ensure_dtype steps
    assert rdf["inputs"][0]["preprocessing"][-2]["kwargs"]["min_percentile"] == card["normalization"]["low"]
    assert len(rdf["outputs"][0]["axes"][-1]["channel_names"]) == 9
    assert "doi:10.1007/978-3-030-00934-2_30" in readme

    rdf, *_ = read_package(packages["n2v"].path)
    assert rdf["inputs"][0]["preprocessing"][-2]["id"] == "fixed_zero_mean_unit_variance"
    assert rdf["outputs"][0]["postprocessing"][0]["id"] == "scale_linear"


def test_test_tensors_are_at_least_the_minimum_input_size():
    """bioimageio.core refuses test tensors below the rdf's minimum size (which includes the halo),
    even where the network runs on them: a small image is padded up to it."""
    from types import SimpleNamespace

    from pyfiji_dl.export.bioimageio import _crop_to_valid

    stardist_like = SimpleNamespace(output_channel_names=["prob"] + [f"dist_{i}" for i in range(32)], n_channels=1,
                                    ndim=2, step=(16, 16), min_shape=(208, 208))
    image = np.random.default_rng(0).random((160, 300, 1), dtype=np.float32)
    # 33 output channels hold the test output to about 174 px per axis; the minimum wins
    assert _crop_to_valid(stardist_like, image).shape == (208, 208, 1)


def test_test_tensors_are_what_the_trained_networks_compute(packages, models):
    """Recompute every test output from the test input with the family's own model and
    normalisation (not the exporter's code)."""
    for family in FAMILIES:
        rdf, _, arrays, _, _ = read_package(packages[family].path)
        x, expected = arrays["test_input.npy"], arrays["test_output.npy"]
        model = keras_model_of(models[family])
        card = json.loads((models[family] / "pyfiji_dl.json").read_text())
        if family == "n2v":
            mean, std = float(model.config.means[0]), float(model.config.stds[0])
            got = np.asarray(model.keras_model((x - mean) / std, training=False)) * std + mean
        else:
            normalised = percentile_normalise(x, card["normalization"]["low"], card["normalization"]["high"])
            if family == "stardist":
                got = stardist_single_output(model, normalised)
            else:
                got = np.asarray(model.keras_model(normalised, training=False))
        assert got.shape == expected.shape, family
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3, err_msg=family)


def test_predict_from_package_equals_predict_from_model_folder(packages, models, cache, tmp_path):
    from pyfiji_dl.export import open_model_source
    from pyfiji_dl.prediction.run import predict_paths

    data = models["data"]
    inputs = {"stardist": data / "seg" / "images" / "f0.tif", "unet": data / "seg" / "images" / "f1.tif",
              "care": data / "care" / "low" / "f2.tif", "n2v": data / "n2v" / "images" / "noisy.tif"}
    outputs = {"stardist": "masks", "unet": "masks", "care": "restored", "n2v": "restored"}
    for family in FAMILIES:
        source = open_model_source(packages[family].path, cache_dir=cache)
        assert source.parent == cache / "packages" and (source / "pyfiji_dl.json").exists()
        assert open_model_source(packages[family].path, cache_dir=cache) == source  # unpacked once
        from_package = predict_paths(source, [inputs[family]], tmp_path / family / "package", progress=False)
        from_folder = predict_paths(models[family], [inputs[family]], tmp_path / family / "folder", progress=False)
        assert not from_package.failed and not from_folder.failed, (from_package.failed, from_folder.failed)
        a = tifffile.imread(tmp_path / family / "package" / outputs[family] / inputs[family].name)
        b = tifffile.imread(tmp_path / family / "folder" / outputs[family] / inputs[family].name)
        assert a.shape == b.shape and np.array_equal(a, b), family
        if outputs[family] == "masks":
            assert (tmp_path / family / "package" / "objects" / f"{inputs[family].stem}.csv").exists()
    leftovers = [p.name for p in (cache / "packages").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no half-unpacked folder stays behind


def test_unpacked_package_folder_and_rdf_path_open_in_place(packages, tmp_path):
    from pyfiji_dl.export import open_model_source

    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(packages["care"].path) as archive:
        archive.extractall(folder)
    assert open_model_source(folder) == folder
    assert open_model_source(folder / "rdf.yaml") == folder


def test_model_folder_is_returned_unchanged(models):
    from pyfiji_dl.export import open_model_source

    assert open_model_source(models["stardist"]) == models["stardist"]


def test_other_sources_are_refused_with_what_they_are(packages, tmp_path, cache):
    from pyfiji_dl.export import ModelSourceError, open_model_source
    from pyfiji_dl.models.card import ModelFolderError

    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("rdf.yaml", "format_version: 0.5.3\ntype: model\nname: Nuclei Somewhere\nconfig: {}\n")
        archive.writestr("weights.pt", b"0")
    with pytest.raises(ModelSourceError, match="bioimage.io model package 'Nuclei Somewhere'.*not exported by "
                                               "pyfiji_dl.*deepImageJ"):
        open_model_source(foreign, cache_dir=cache)
    unpacked = tmp_path / "foreign"
    unpacked.mkdir()
    (unpacked / "rdf.yaml").write_text("type: model\nname: Another Model\n")
    with pytest.raises(ModelSourceError, match="'Another Model'"):
        open_model_source(unpacked)

    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("saved_model.pb", b"0")
        archive.writestr("variables/", b"")
    with pytest.raises(ModelSourceError, match="TensorFlow SavedModel zip"):
        open_model_source(plain, cache_dir=cache)
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    with pytest.raises(ModelSourceError, match="not a model folder or a .zip package"):
        open_model_source(tmp_path / "image.tif")
    with pytest.raises(ModelFolderError, match="no such model folder or package"):
        open_model_source(tmp_path / "missing.zip")


def test_failed_validation_leaves_no_file(models, tmp_path, monkeypatch):
    from pyfiji_dl.export import PackageValidationError, export_bioimageio
    from pyfiji_dl.export import validation

    def broken_weights(path, report):
        report.tests.append(("reproduce test output (keras_hdf5)", False, "simulated mismatch"))

    monkeypatch.setattr(validation, "_run_weights", broken_weights)
    out = tmp_path / "out" / "care.bioimageio.zip"
    with pytest.raises(PackageValidationError, match="failed validation; nothing was written") as failure:
        export_bioimageio(models["care"], out)
    assert failure.value.report.status == "failed" and "simulated mismatch" in str(failure.value)
    assert not out.exists() and list(out.parent.iterdir()) == []


def run_imagej_batch(driver: Path) -> None:
    """Run a macro file in plain ImageJ 1.x under Xvfb (its menus need a display)."""
    from pyfiji_dl.fiji.locate import ImageJNotFoundError, locate_imagej

    java, xvfb = shutil.which("java"), shutil.which("xvfb-run")
    try:
        installation = locate_imagej()
    except ImageJNotFoundError as exc:
        pytest.skip(f"ImageJ not available: {exc}")
    jars = [Path(p) for p in installation.classpath if Path(p).name.startswith("ij")] or [Path(installation.path)]
    if java is None or xvfb is None or jars[0].suffix != ".jar" or not jars[0].is_file():
        pytest.skip("needs java, xvfb-run and an ImageJ 1.x jar")
    subprocess.run([xvfb, "-a", java, "-jar", str(jars[0]), "-batch", str(driver)], check=True,
                   capture_output=True, timeout=120)


def test_deepimagej_macros_match_the_package_processing(packages, models, tmp_path):
    """The legacy deepImageJ macros, run in real ImageJ, give the package's preprocessing
    and pyfiji-dl's U-Net objects."""
    from pyfiji_dl.export.validation import apply_processing
    from pyfiji_dl.models.unet import instances
    from scipy import ndimage

    rdf, _, arrays, _, _ = read_package(packages["care"].path)
    with zipfile.ZipFile(packages["care"].path) as archive:
        archive.extract("pyfiji_dl_preprocessing.ijm", tmp_path)
    write_imagej_tiff(tmp_path / "in.tif", arrays["test_input.npy"][0, ..., 0], "YX")
    driver = tmp_path / "normalise.ijm"
    driver.write_text(f'open("{tmp_path / "in.tif"}");\nrunMacro("{tmp_path / "pyfiji_dl_preprocessing.ijm"}");\n'
                      f'saveAs("Tiff", "{tmp_path / "normalised.tif"}");\n')
    run_imagej_batch(driver)
    expected = apply_processing(arrays["test_input.npy"], rdf["inputs"][0]["preprocessing"])[0, ..., 0]
    np.testing.assert_allclose(tifffile.imread(tmp_path / "normalised.tif"), expected, rtol=1e-4, atol=1e-4)

    card = json.loads((models["unet"] / "pyfiji_dl.json").read_text())
    with zipfile.ZipFile(packages["unet"].path) as archive:
        archive.extract("pyfiji_dl_postprocessing.ijm", tmp_path)
    # discs above and below the model's minimum area, with soft edges
    min_area = int(card.get("min_area") or 0)
    big = int(np.sqrt(3 * max(min_area, 20) / np.pi)) + 2
    small = int(np.sqrt(0.4 * min_area / np.pi))
    size = 7 * big
    yy, xx = np.mgrid[:size, :size]
    discs = np.zeros((size, size), np.float32)
    for cy, cx, r in [(2 * big, 2 * big, big), (2 * big, 5 * big, big), (5 * big, 2 * big, big),
                      (5 * big, 5 * big, small), (6 * big, 6 * big, small)]:
        discs[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    probability = np.clip(ndimage.gaussian_filter(discs, 1), 0, 1).astype(np.float32)
    write_imagej_tiff(tmp_path / "probability.tif", probability, "YX")
    driver = tmp_path / "objects.ijm"
    driver.write_text(f'open("{tmp_path / "probability.tif"}");\n'
                      f'runMacro("{tmp_path / "pyfiji_dl_postprocessing.ijm"}");\n'
                      f'saveAs("Tiff", "{tmp_path / "count_masks.tif"}");\n')
    run_imagej_batch(driver)
    ours = instances(probability, threshold=card["threshold"], min_area=card["min_area"],
                     max_area=card.get("max_area"))
    imagej = tifffile.imread(tmp_path / "count_masks.tif")
    assert ours.max() >= 3 and imagej.max() == ours.max() and np.array_equal(imagej > 0, ours > 0)


# --- Fiji plugin zips ------------------------------------------------------------------------

def saved_model_output(zip_path, x, tmp_path):
    import tensorflow as tf

    folder = tmp_path / Path(zip_path).stem
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    return signature(input=tf.constant(x))["output"].numpy()


def test_fiji_zips_reproduce_the_keras_networks(models, tmp_path, nuclei):
    from pyfiji_dl.export import export_fiji

    image, _ = nuclei
    x = percentile_normalise(image[np.newaxis, 200:296, 100:196, np.newaxis].astype(np.float32), 1, 99.8)
    for family, flavour in (("stardist", "stardist"), ("care", "csbdeep"), ("n2v", "fiji-csbdeep"),
                            ("unet", "csbdeep")):
        path, note = export_fiji(models[family], tmp_path / f"{family}.zip", flavour)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        assert "saved_model.pb" in names and "variables/" in names, names  # the layout the plugins unpack
        model = keras_model_of(models[family])
        got = saved_model_output(path, x, tmp_path)
        if family == "stardist":
            expected = stardist_single_output(model, x)
        elif family == "n2v":
            # the zip takes and returns intensities: n2v's normalisation is built in
            mean, std = float(model.config.means[0]), float(model.config.stds[0])
            raw = 1000 * x
            got = saved_model_output(path, raw, tmp_path)
            expected = np.asarray(model.keras_model((raw - mean) / std, training=False)) * std + mean
        else:
            expected = np.asarray(model.keras_model(x, training=False))
        assert got.shape == expected.shape, family
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=family)
        assert "TensorFlow 1.x" in note and "bioimageio" in note


def test_fiji_note_gives_the_plugin_settings(models, tmp_path):
    from pyfiji_dl.export import export_fiji

    card = json.loads((models["stardist"] / "pyfiji_dl.json").read_text())
    _, note = export_fiji(models["stardist"], tmp_path / "sd.zip")
    assert f"Probability/Score Threshold: {card['thresholds']['prob']:.4f}" in note
    assert f"Overlap Threshold: {card['thresholds']['nms']:.2f}" in note
    assert "Percentile low: 1; Percentile high: 99.8" in note
    _, note = export_fiji(models["n2v"], tmp_path / "n2v.zip", "csbdeep")
    assert "Normalize image: OFF" in note
    _, note = export_fiji(models["care"], tmp_path / "care.zip", "csbdeep")
    assert "Bottom percentile: 2; Top percentile: 99.8" in note


def test_fiji_export_refuses_the_wrong_plugin(models, tmp_path):
    from pyfiji_dl.export import ExportError, export_fiji
    from pyfiji_dl.export.fiji import check_family_for_flavour
    from pyfiji_dl.models.card import ModelCard

    with pytest.raises(ExportError, match="care model; the Fiji StarDist plugin runs StarDist models only"):
        export_fiji(models["care"], tmp_path / "x.zip", "stardist")
    with pytest.raises(ExportError, match="needs its own plugin: use --format fiji-stardist"):
        export_fiji(models["stardist"], tmp_path / "x.zip", "csbdeep")
    with pytest.raises(ExportError, match="unknown Fiji flavour"):
        export_fiji(models["care"], tmp_path / "x.zip", "imagej")
    with pytest.raises(ExportError, match="handles 2D models only"):
        check_family_for_flavour(ModelCard.new("stardist", ndim=3), "stardist", tmp_path)
    assert not (tmp_path / "x.zip").exists()


def test_importing_the_export_package_loads_neither_tensorflow_nor_bioimageio():
    code = ("import sys, pyfiji_dl.export as e; e.open_model_source; import pyfiji_dl.models.source; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'bioimageio', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.stdout.strip() == "[]"


def test_export_and_predict_commands_take_the_package(models, tmp_path, offline, monkeypatch, capsys):
    """What a user types: export a zip, then give the zip to 'pyfiji-dl predict' as MODEL."""
    monkeypatch.setenv("PYFIJI_DL_CACHE_DIR", str(tmp_path / "cache"))
    package = tmp_path / "nuclei.bioimageio.zip"
    assert run_cli("export", models["stardist"], "--format", "bioimageio", "-o", package,
                   "--author", "A. Biologist") == 0
    assert "passed" in capsys.readouterr().out.lower()
    assert run_cli("export", models["stardist"], "--format", "bioimageio", "-o", package) == 1
    assert "exists" in capsys.readouterr().err
    image = models["data"] / "seg" / "images" / "f0.tif"
    assert run_cli("predict", package, image, "-o", tmp_path / "from_zip", "--quiet") == 0
    assert run_cli("predict", models["stardist"], image, "-o", tmp_path / "from_folder", "--quiet") == 0
    a = tifffile.imread(tmp_path / "from_zip" / "masks" / "f0.tif")
    b = tifffile.imread(tmp_path / "from_folder" / "masks" / "f0.tif")
    assert np.array_equal(a, b)
    fiji_zip = tmp_path / "nuclei.fiji.zip"
    assert run_cli("export", models["stardist"], "--format", "fiji-stardist", "-o", fiji_zip) == 0
    out = capsys.readouterr().out
    assert fiji_zip.exists() and "TensorFlow 1" in out
    assert run_cli("export", models["care"], "--format", "fiji-stardist", "-o", tmp_path / "x.zip") == 1
    assert "fiji-csbdeep" in capsys.readouterr().err


# --- the Java runtimes that load the exports -------------------------------------------------
# The StarDist and CSBDeep Fiji plugins run TensorFlow for Java 1.15; deepImageJ 3 runs the
# packages' SavedModels with JDLL's engine, TensorFlow for Java 0.5.0 (TensorFlow 2.10.1).
# tests/java_consumers.py loads each SavedModel the way those consumers do.

# the largest difference allowed between a Java runtime's output and the Python network's,
# as a fraction of the output's range
RUNTIME_TOLERANCE = 1e-4


def java_runtime(name):
    from java_consumers import ConsumerUnavailable, consumer

    try:
        return consumer(name)
    except ConsumerUnavailable as exc:
        if os.environ.get("CI"):  # as for ImageJ (conftest.py): CI must run the oracle
            pytest.fail(f"the Java runtimes are required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def stardist3d_package(tmp_path_factory, offline):
    """A tiny 3D StarDist model (trained one short epoch, saved with its weights) and its package."""
    from stardist.data import test_image_nuclei_3d

    from pyfiji_dl.export import export_bioimageio

    volume, mask = test_image_nuclei_3d(return_mask=True)
    data = tmp_path_factory.mktemp("export_data_3d")
    for i, flip in enumerate([False, True]):
        v, m = (volume[:, :, ::-1], mask[:, :, ::-1]) if flip else (volume, mask)
        write_imagej_tiff(data / "images" / f"v{i}.tif", np.ascontiguousarray(v), "ZYX")
        write_label_image(data / "masks" / f"v{i}.tif", np.ascontiguousarray(m), "ZYX")
    model = tmp_path_factory.mktemp("export_models_3d") / "stardist3d"
    assert run_cli("train", "stardist", "--data", data, "--patch", "16,32,32", "--batch", "1", "--rays", "8",
                   "--depth", "1", "--filters", "8", "--model", model, *TINY) == 0
    package = export_bioimageio(model, model.parent / "stardist3d.bioimageio.zip", authors=["Test Author"])
    return model, package


def unzipped(zip_path, folder):
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return folder


def report_runtime(runtime, export, family, result, expected):
    """Print and return the largest difference to the Python network and its share of the output range."""
    from java_consumers import largest_difference

    assert result.ok, f"{runtime.title} cannot run the {export} export of {family}: {result.error}"
    assert result.output.shape == expected.shape, (export, family, result.output.shape, expected.shape)
    difference, output_range = largest_difference(result.output, expected)
    assert output_range > 0, (export, family, "the test network gives a constant output")
    print(f"{runtime.name} ({result.tensorflow_version}) {export} {family}: loaded in {result.load_seconds:.3f} s, "
          f"largest difference to Python {difference:.3g} = {difference / output_range:.2g} of the output range "
          f"{output_range:.3g}")
    return difference / output_range


def test_fiji_zips_run_in_tensorflow_java_1_15_as_the_fiji_plugins_load_them(models, packages, tmp_path):
    """fiji-stardist and fiji-csbdeep zips in the StarDist/CSBDeep plugins' runtime agree with Python."""
    from pyfiji_dl.export import export_fiji

    runtime = java_runtime("tf1.15")
    jobs, expected = [], {}
    for family, flavour in (("stardist", "fiji-stardist"), ("care", "fiji-csbdeep"), ("n2v", "fiji-csbdeep"),
                            ("unet", "fiji-csbdeep")):
        path, _ = export_fiji(models[family], tmp_path / f"{family}.zip", flavour)
        _, _, arrays, _, _ = read_package(packages[family].path)
        raw = arrays["test_input.npy"]  # the package's test image, normalised as the plugin would
        card = json.loads((models[family] / "pyfiji_dl.json").read_text())
        model = keras_model_of(models[family])
        if family == "n2v":  # the zip takes raw intensities: n2v's normalisation is built in
            mean, std = float(model.config.means[0]), float(model.config.stds[0])
            x = raw
            expected[family] = np.asarray(model.keras_model((raw - mean) / std, training=False)) * std + mean
        else:
            x = percentile_normalise(raw, card["normalization"]["low"], card["normalization"]["high"])
            expected[family] = (stardist_single_output(model, x) if family == "stardist"
                                else np.asarray(model.keras_model(x, training=False)))
        jobs.append((family, flavour, unzipped(path, tmp_path / family), x))
    results = runtime.run([(folder, x) for _, _, folder, x in jobs])
    shares = {family: report_runtime(runtime, flavour, family, result, expected[family])
              for (family, flavour, _, _), result in zip(jobs, results)}
    assert results[0].tensorflow_version == "1.15.0"
    assert all(share <= RUNTIME_TOLERANCE for share in shares.values()), shares


@pytest.mark.parametrize("runtime_name", ["tf2.10", "tf1.15"])
def test_package_saved_models_run_in_tensorflow_java(runtime_name, models, packages, stardist3d_package, tmp_path):
    """The bioimageio packages' SavedModel weights in deepImageJ 3's runtime (TensorFlow 2.10.1) and in
    TensorFlow 1.15 (deepImageJ 2, the oldest the rdf names) agree with Python and reproduce the test output."""
    from pyfiji_dl.export.network import load_exportable
    from pyfiji_dl.export.validation import apply_processing

    runtime = java_runtime(runtime_name)
    sources = {**{family: (models[family], packages[family].path) for family in FAMILIES},
               "stardist3d": (stardist3d_package[0], stardist3d_package[1].path)}
    jobs = []
    for family, (model_dir, package) in sources.items():
        rdf, _, arrays, _, _ = read_package(package)
        folder = unzipped(package, tmp_path / family)
        saved_model = unzipped(folder / rdf["weights"]["tensorflow_saved_model_bundle"]["source"],
                               tmp_path / f"{family}_saved_model")
        x = apply_processing(arrays["test_input.npy"], rdf["inputs"][0]["preprocessing"])
        python = load_exportable(model_dir).predict(x)
        jobs.append((family, saved_model, x, python, rdf, arrays["test_output.npy"]))
    results = runtime.run([(folder, x) for _, folder, x, _, _, _ in jobs])
    shares, named = {}, {}
    for (family, _, _, python, rdf, test_output), result in zip(jobs, results):
        shares[family] = report_runtime(runtime, "bioimageio", family, result, python)
        # what deepImageJ shows: the output after the package's postprocessing is the test output
        got = apply_processing(result.output, rdf["outputs"][0]["postprocessing"])
        np.testing.assert_allclose(got, test_output, rtol=1e-3, atol=1e-3, err_msg=family)
        named[family] = rdf["weights"]["tensorflow_saved_model_bundle"]["tensorflow_version"]
    assert all(share <= RUNTIME_TOLERANCE for share in shares.values()), shares
    assert results[0].tensorflow_version == {"tf2.10": "2.10.1", "tf1.15": "1.15.0"}[runtime_name]
    # the rdf names the oldest runtime this test runs the weights in
    assert set(named.values()) == {"1.15"}, named
