"""The pyfiji-dl command: help, conversions on files, bad input, doctor."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import roifile
import tifffile

from pyfiji_dl.cli import build_parser, main
from pyfiji_dl.io.tiff import Calibration, read_image, write_imagej_tiff, write_label_image

SUBCOMMANDS = ["rois-to-labels", "labels-to-rois", "train", "predict", "evaluate", "fiji", "doctor", "demo"]


def run_cli(*args):
    return main([str(a) for a in args])


def label_map(seed=0, shape=(64, 80), n=12):
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for label in range(1, n + 1):
        cy, cx = rng.integers(5, shape[0] - 5), rng.integers(5, shape[1] - 5)
        r = rng.integers(3, 7)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = label
    return labels


def no_partial_files(folder: Path):
    return [p.name for p in folder.rglob("*") if ".part" in p.name]


def test_help_does_not_import_tensorflow_or_start_java():
    # also each family's 'train NAME --help', whose defaults come from the family's training profile
    code = ("import sys\nfrom pyfiji_dl.cli import main\nfrom pyfiji_dl.families import names\n"
            "for argv in [['--help']] + [['train', name, '--help'] for name in names()]:\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
            "assert 'jpype' not in sys.modules, 'java imported'\nprint('clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "clean" in out.stdout and "rois-to-labels" in out.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("pyfiji-dl")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "labels-to-rois" in out.stdout


@pytest.mark.parametrize("argv, message", [
    (["predict", "model-folder"], "the following arguments are required: inputs, -o/--output"),
    (["train", "stardist", "--epochs", "many"], "invalid int value: 'many'"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
])
def test_for_imagej_usage_errors_reach_standard_output(argv, message):
    """ImageJ's exec() reads standard output only: argparse's errors must be there, then the status."""
    exe = Path(sys.executable).with_name("pyfiji-dl")
    out = subprocess.run([str(exe), "--for-imagej", *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert message in out.stdout and out.stderr == ""
    assert out.stdout.rstrip().splitlines()[-1] == "PYFIJI-DL STATUS error"


def test_for_imagej_bug_tracebacks_reach_standard_output(tmp_path):
    """An exception nobody expected (here a broken installation) still ends with the status line."""
    code = ("import sys, pyfiji_dl.cli as cli\n"
            "def broken(args):\n    raise ImportError('No module named tensorflow')\n"
            "cli.cmd_doctor = broken\n"
            "sys.exit(cli.main(['--for-imagej', 'doctor']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stderr == ""
    lines = out.stdout.rstrip().splitlines()
    assert "Traceback" in out.stdout and lines[-2] == "ImportError: No module named tensorflow"
    assert lines[-1] == "PYFIJI-DL STATUS error"


def test_single_file_round_trip_keeps_calibration(tmp_path, capsys):
    truth = label_map()
    image = tmp_path / "cells.tif"
    cal = Calibration(pixel_width=0.25, pixel_height=0.25, unit="micron")
    write_imagej_tiff(image, np.zeros(truth.shape, np.uint8), "YX", calibration=cal)
    labels_in = tmp_path / "truth.tif"
    write_label_image(labels_in, truth, "YX", calibration=cal)
    assert run_cli("labels-to-rois", labels_in, "-o", tmp_path / "cells.zip") == 0
    assert run_cli("rois-to-labels", tmp_path / "cells.zip", "--image", image, "-o", tmp_path / "out.tif") == 0
    back, info = read_image(tmp_path / "out.tif")
    np.testing.assert_array_equal(back, truth)
    assert back.dtype == np.uint16
    assert info.calibration.unit == "micron" and info.calibration.pixel_width == pytest.approx(0.25)
    out = capsys.readouterr().out
    assert f"{len(np.unique(truth)) - 1} ROIs" in out and "labels from" in out


def test_single_roi_file_and_shape_option(tmp_path):
    roi = roifile.ImagejRoi.frompoints(np.array([[2, 2], [8, 2], [8, 6], [2, 6]]))
    roi.roitype = roifile.ROI_TYPE.POLYGON
    roi.tofile(tmp_path / "one.roi")
    assert run_cli("rois-to-labels", tmp_path / "one.roi", "--shape", "10,12", "-o", tmp_path / "one.tif") == 0
    labels = tifffile.imread(tmp_path / "one.tif")
    assert labels.shape == (10, 12) and labels.sum() == 24  # 6 x 4 pixels inside the outline


def test_folder_form_pairs_by_stem_and_lists_unmatched(tmp_path, capsys):
    images, rois_dir = tmp_path / "images", tmp_path / "rois"
    images.mkdir(), rois_dir.mkdir()
    for i, stem in enumerate(["a", "b", "c"]):
        write_imagej_tiff(images / f"{stem}.tif", np.zeros((64, 80), np.uint8), "YX")
        if stem != "c":
            write_label_image(tmp_path / f"{stem}_labels.tif", label_map(i), "YX")
            run_cli("labels-to-rois", tmp_path / f"{stem}_labels.tif", "-o", rois_dir / f"{stem}.zip")
    assert run_cli("rois-to-labels", "--rois-dir", rois_dir, "--images", images, "-o", tmp_path / "masks") == 0
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a.tif", "b.tif"]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "masks" / "b.tif"), label_map(1))
    assert "1 image without a ROI set: c.tif" in capsys.readouterr().err

    # a ROI set whose image is missing: nothing guessed, nothing written
    (rois_dir / "RoiSet_a.zip").write_bytes((rois_dir / "a.zip").read_bytes())
    assert run_cli("rois-to-labels", "--rois-dir", rois_dir, "--images", images, "-o", tmp_path / "masks2") == 1
    err = capsys.readouterr().err
    assert "RoiSet_a.zip" in err and "nothing is guessed" in err
    assert not (tmp_path / "masks2").exists()


def test_labels_to_rois_folder_form(tmp_path):
    src = tmp_path / "labels"
    for i in range(2):
        write_label_image(src / f"img{i}.tif", label_map(i), "YX")
    assert run_cli("labels-to-rois", src, "-o", tmp_path / "rois") == 0
    assert sorted(p.name for p in (tmp_path / "rois").iterdir()) == ["img0.zip", "img1.zip"]
    assert len(roifile.roiread(tmp_path / "rois" / "img1.zip")) == len(np.unique(label_map(1))) - 1


# --- bad input: clear message naming the file, no output left behind ----------------

def _write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not a zip", "not a valid zip"),
        ({}, "holds no ROIs"),
        ({"notes.txt": b"hello"}, "notes.txt: this zip entry is not a .roi"),
        ({"cell.roi": b"GIF89a" + bytes(100)}, "cell.roi: not an ImageJ ROI"),
        ({"cut.roi": b"Iout" + bytes(10)}, "cut.roi: damaged ImageJ ROI"),
    ],
)
def test_bad_roi_sets_are_named_and_leave_no_output(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.zip"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        _write_zip(bad, content)
    out = tmp_path / "out" / "labels.tif"
    assert run_cli("rois-to-labels", bad, "--shape", "32,32", "-o", out) == 1
    err = capsys.readouterr().err
    assert "bad.zip" in err and message in err
    assert not out.exists() and not (out.parent.exists() and no_partial_files(out.parent))


@pytest.mark.parametrize("damage", ["header only", "truncated pixels"])
def test_corrupt_tiff_is_named(tmp_path, capsys, damage):
    bad = tmp_path / "broken.tif"
    if damage == "header only":
        bad.write_bytes(b"II*\x00" + bytes(20))
    else:
        write_label_image(bad, label_map(), "YX")
        bad.write_bytes(bad.read_bytes()[:3000])
    assert run_cli("labels-to-rois", bad, "-o", tmp_path / "x.zip") == 1
    err = capsys.readouterr().err
    assert "broken.tif" in err and ("not a readable TIFF" in err or "cannot be read" in err)
    assert not (tmp_path / "x.zip").exists() and not no_partial_files(tmp_path)


@pytest.mark.parametrize(
    "data, axes, message",
    [
        (np.array([[0, 1.5], [2, 2]], np.float32), "YX", "non-integer"),
        (np.array([[0, -3], [2, 2]], np.int16), "YX", "negative"),
        (np.zeros((3, 2, 8, 8), np.uint16), "ZCYX", "has 2 channels"),
        (np.zeros((8, 8), np.uint16), "YX", "contains no labels"),
    ],
)
def test_bad_label_maps_are_named(tmp_path, capsys, data, axes, message):
    path = tmp_path / "weird.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": axes})
    assert run_cli("labels-to-rois", path, "-o", tmp_path / "weird.zip") == 1
    err = capsys.readouterr().err
    assert "weird.tif" in err and message in err
    assert not (tmp_path / "weird.zip").exists() and not no_partial_files(tmp_path)


def test_roi_off_image_fails_without_output(tmp_path, capsys):
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=200, top=200, right=210, bottom=210, name="lost")
    roi.tofile(tmp_path / "lost.roi")
    assert run_cli("rois-to-labels", tmp_path / "lost.roi", "--shape", "64,64", "-o", tmp_path / "l.tif") == 1
    assert "ROI 'lost'" in capsys.readouterr().err
    assert not (tmp_path / "l.tif").exists()


def test_more_than_65535_labels_become_exact_float32(tmp_path):
    labels = np.arange(1, 300 * 300 + 1, dtype=np.int64).reshape(300, 300)
    with pytest.warns(UserWarning, match="32-bit float"):
        write_label_image(tmp_path / "many.tif", labels, "YX")
    back = tifffile.imread(tmp_path / "many.tif")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back.astype(np.int64), labels)


# --- doctor ------------------------------------------------------------------------

def test_doctor_reports_and_fails_without_imagej(tmp_path):
    exe = str(Path(sys.executable).with_name("pyfiji-dl"))
    env = dict(os.environ, PYFIJI_DL_IJ_JAR=str(tmp_path / "missing.jar"))
    env.pop("PYFIJI_DL_FIJI", None)
    out = subprocess.run([exe, "doctor", "--no-start"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1
    assert "ImageJ/Fiji" in out.stdout and "missing.jar does not exist" in out.stdout
    assert "TensorFlow devices" in out.stdout and "Java" in out.stdout and "display" in out.stdout


@pytest.mark.imagej
def test_doctor_passes_with_imagej(ij):
    exe = str(Path(sys.executable).with_name("pyfiji-dl"))
    out = subprocess.run([exe, "doctor"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    version = str(ij("ij.IJ").getFullVersion())[:5]  # the jar the tests run on, e.g. 1.54p
    assert f"ImageJ {version}: " in out.stdout and f"threshold as ImageJ {version} does" in out.stdout
