"""FijiSession against real ImageJ 1.x, under the virtual display the suite runs in.

ImageJ is the oracle throughout: ROIs are drawn with ImageJ's own classes and added to
its visible ROI Manager the way a user does, ImageJ saves and fills them, and ImageJ
reports where each pushed ROI lands.
"""

import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import roifile
import tifffile

from pyfiji_dl.annotation.convert import RoiPlacementError, labels_to_rois, rois_to_labels
from pyfiji_dl.io.rois import read_rois, write_rois
from pyfiji_dl.io.tiff import Calibration

pytestmark = pytest.mark.imagej

MACRO_TIMEOUT = 30  # a safety net only: every macro below must end long before


@pytest.fixture(scope="module")
def session(ij):
    if not os.environ.get("DISPLAY"):
        if os.environ.get("CI"):
            pytest.fail("CI must run the tests under a virtual display (make test uses xvfb-run)")
        pytest.skip("ImageJ 1.x's ROI Manager needs a display; run under xvfb-run")
    from pyfiji_dl.fiji.guard import on_edt
    from pyfiji_dl.fiji.session import FijiSession

    s = FijiSession.start()  # the JVM of the `ij` fixture: nothing new is started
    yield s
    manager = ij("ij.plugin.frame.RoiManager").getInstance()
    if manager is not None:
        on_edt(manager.reset)
        on_edt(manager.close)
    WindowManager = ij("ij.WindowManager")
    for image_id in list(WindowManager.getIDList() or []):
        imp = WindowManager.getImage(image_id)
        if imp is not None:
            imp.changes = False
            on_edt(imp.close)


@pytest.fixture
def manager(session):
    from pyfiji_dl.fiji.guard import on_edt

    rm = session.roi_manager(create=True)
    on_edt(rm.reset)
    return rm


def movie_labels(n_frames=3, shape=(60, 70)):
    """A time-lapse label map with a different number of discs on every frame."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    frames = np.zeros((n_frames,) + shape, np.uint16)
    for t in range(n_frames):
        for k in range(t + 2):
            cy, cx = 10 + 12 * k, 10 + 8 * t
            frames[t][(yy - cy) ** 2 + (xx - cx) ** 2 <= 25 + 3 * k] = 10 * t + k + 1
    return frames


def imagej_fill(ij, jroi, width, height) -> np.ndarray:
    """Pixels ImageJ sets with ip.fill(roi)."""
    ip = ij("ij.process.ByteProcessor")(width, height)
    ip.setValue(255.0)
    ip.fill(jroi)
    return np.frombuffer(memoryview(ip.getPixels()), np.uint8).reshape(height, width) != 0


def test_start_uses_the_running_imagej(session, ij):
    from pyfiji_dl.fiji import jvm

    assert session.kind == "imagej" and session.ij is None
    assert session.installation == jvm.running()
    assert session.has_roi_manager and session.display and not session.headless
    text = session.describe()
    assert str(ij("ij.IJ").getFullVersion()) in text
    assert "ROI Manager: available" in text
    assert "ROI Manager positions: " + session.imagej_version.roi_manager_rule() in text


# ---------------------------------------------------------------------------- pull
def test_pull_rois_drawn_in_imagej(session, manager, ij, tmp_path):
    """ROIs added as a user adds them -> the same label map as rois_to_labels on the zip
    ImageJ saves, and as ImageJ filling ROI i with label i on the ROI's frame."""
    from pyfiji_dl.fiji.guard import on_edt

    Roi, OvalRoi, PolygonRoi = ij("ij.gui.Roi"), ij("ij.gui.OvalRoi"), ij("ij.gui.PolygonRoi")
    ShapeRoi, EllipseRoi, Line = ij("ij.gui.ShapeRoi"), ij("ij.gui.EllipseRoi"), ij("ij.gui.Line")
    FloatPolygon = ij("ij.process.FloatPolygon")
    width, height, n_frames = 100, 90, 3
    imp = session.to_imageplus(np.zeros((n_frames, height, width), np.uint8), "TYX", title="drawn")
    assert session.show(imp)

    # 1) the 't' key: "Add" with the image on frame 2 and both windows visible
    oval = OvalRoi(15.3, 8.6, 25.2, 17.7)
    oval.setPosition(3)
    imp.setT(2)
    imp.setRoi(oval)
    on_edt(lambda: manager.runCommand(imp, "Add"))
    # 2)-5) the API calls a plugin or script uses
    polygon = PolygonRoi(FloatPolygon([40.5, 70.2, 55.0], [50.5, 45.1, 75.9]), Roi.POLYGON)
    polygon.setPosition(3)
    ring = ShapeRoi(OvalRoi(60, 10, 30, 30)).xor(ShapeRoi(OvalRoi(68, 18, 14, 14)))
    ring.setPosition(1)
    ellipse = EllipseRoi(10.0, 60.0, 40.0, 80.0, 0.5)
    ellipse.setPosition(0, 0, 3)  # hyperstack-style position: frame 3
    rectangle = Roi(5, 5, 20, 12)  # no position: every frame; overlaps the oval on frame 2
    on_edt(lambda: manager.addRoi(polygon))
    on_edt(lambda: manager.add(imp, ring, -1))
    on_edt(lambda: manager.addRoi(ellipse))
    on_edt(lambda: manager.addRoi(rectangle))
    on_edt(lambda: manager.addRoi(Line(0, 0, 50, 50)))
    assert manager.getCount() == 6
    # Where the manager put them depends on the ImageJ version (imagej/ImageJ 8799326e):
    # before 1.54k8 "Add [t]" replaced the oval's own frame (3) with the frame shown (2)
    # and addRoi left the rectangle on every frame; from 1.54k8 the oval keeps frame 3
    # and the rectangle, which had no position, gets the frame shown.
    version = session.imagej_version
    oval_frame = 3 if version.roi_manager_keeps_own_position else 2
    rectangle_frame = 2 if version.roi_manager_positions_unpositioned else 0

    def frame(index):
        jroi = manager.getRoi(index)
        return jroi.getTPosition() if jroi.hasHyperStackPosition() else jroi.getPosition()

    assert [frame(i) for i in range(5)] == [oval_frame, 3, 1, 3, rectangle_frame]

    labels, axes, report = session.labels_from_roi_manager(imp)

    on_edt(manager.deselect)
    saved = tmp_path / "imagej_saved.zip"
    assert on_edt(lambda: manager.runCommand("Save", str(saved)))
    expected, expected_axes, expected_report = rois_to_labels(read_rois(saved), (n_frames, height, width), "TYX")
    assert axes == expected_axes == "TYX"
    np.testing.assert_array_equal(labels, expected)
    assert report.skipped == expected_report.skipped and len(report.skipped) == 1
    assert "(line)" in report.skipped[0]
    assert {(o.first, o.second) for o in report.overlaps} == {(o.first, o.second) for o in expected_report.overlaps}

    painted = np.zeros((n_frames, height, width), np.int32)
    for label, index in enumerate(range(5), start=1):  # the line (index 5) takes no label
        jroi = manager.getRoi(index)
        t = jroi.getTPosition() if jroi.hasHyperStackPosition() else jroi.getPosition()
        frames = [t - 1] if t else range(n_frames)
        mask = imagej_fill(ij, jroi, width, height)
        for f in frames:
            painted[f][mask] = label
    np.testing.assert_array_equal(labels, painted)
    assert [1 in labels[t] for t in range(n_frames)] == [t + 1 == oval_frame for t in range(n_frames)]
    assert [5 in labels[t] for t in range(n_frames)] == [rectangle_frame in (0, t + 1) for t in range(n_frames)]
    names = [str(manager.getName(i)) for i in range(6)]
    oval_meets_rectangle = rectangle_frame in (0, oval_frame)
    assert ((names[0], names[4]) in {(o.first, o.second) for o in report.overlaps}) == oval_meets_rectangle
    imp.changes = False
    on_edt(imp.close)


def test_pull_uses_label_names_for_ids(session, manager):
    labels = np.zeros((40, 50), np.uint16)
    labels[5:15, 5:15] = 7
    labels[20:30, 30:45] = 300
    imp = session.to_imageplus(np.zeros_like(labels), "YX")
    session.rois_to_roi_manager(labels, imp, replace=True)
    got, axes, _ = session.labels_from_roi_manager(imp)
    np.testing.assert_array_equal(got, labels)
    got, _, _ = session.labels_from_roi_manager(imp, ids="order")
    assert sorted(np.unique(got)) == [0, 1, 2]


def test_pull_without_roi_manager_or_image_says_what_to_do(session, ij):
    from pyfiji_dl.fiji.guard import on_edt
    from pyfiji_dl.fiji.session import FijiSessionError

    manager = ij("ij.plugin.frame.RoiManager").getInstance()
    if manager is not None:
        on_edt(manager.close)
    imp = session.to_imageplus(np.zeros((10, 10), np.uint8), "YX")
    with pytest.raises(FijiSessionError, match="ROI Manager is not open"):
        session.labels_from_roi_manager(imp)
    if ij("ij.WindowManager").getCurrentImage() is None:  # no window left open by other tests
        with pytest.raises(FijiSessionError, match="No image is open"):
            session.labels_from_overlay()


# ---------------------------------------------------------------------------- push
def test_push_time_lapse_lands_on_frames(session, manager, ij):
    frames = movie_labels()
    imp = session.to_imageplus(frames, "TYX", title="movie", lut="glasbey")
    result = session.rois_to_roi_manager(frames, imp, axes="TYX")
    expected_rois = labels_to_rois(frames, "TYX")
    n = sum(len(np.unique(f)) - 1 for f in frames)
    assert result.count == manager.getCount() == n == len(expected_rois)
    assert result.names == [r.name for r in expected_rois]
    assert [str(manager.getName(i)) for i in range(n)] == result.names

    ShortProcessor = ij("ij.process.ShortProcessor")
    painted = np.zeros_like(frames)
    for index in range(n):
        roi = manager.getRoi(index)
        name = str(roi.getName())
        frame = int(name.split("-t")[1])
        label = int(name.split("-")[1])
        assert roi.getPosition() == frame
        manager.select(imp, index)  # what clicking the ROI in the ROI Manager does
        assert imp.getT() == frame
        ip = ShortProcessor(imp.getWidth(), imp.getHeight())
        ip.setValue(label)
        ip.fill(roi)
        plane = np.frombuffer(memoryview(ip.getPixels()), np.uint16).reshape(frames.shape[1:])
        painted[imp.getT() - 1][plane > 0] = plane[plane > 0]
    np.testing.assert_array_equal(painted, frames)

    back, axes, _ = session.labels_from_roi_manager(imp)
    assert axes == "TYX"
    np.testing.assert_array_equal(back, frames)


def test_push_2d_label_map_appends_or_replaces(session, manager, ij):
    labels = movie_labels(1)[0]
    imp = session.to_imageplus(labels, "YX")
    first = session.rois_to_roi_manager(labels, imp)
    second = session.rois_to_roi_manager((labels, "YX"), imp)
    assert manager.getCount() == first.count + second.count == 4
    assert session.rois_to_roi_manager(labels, imp, replace=True).count == manager.getCount() == 2
    for index, label in enumerate((1, 2)):
        roi = manager.getRoi(index)
        assert str(roi.getName()) == f"label-{label:05d}" and roi.getPosition() == 0
        np.testing.assert_array_equal(imagej_fill(ij, roi, 70, 60), labels == label)


def test_push_zip_keeps_hyperstack_positions(session, manager, tmp_path):
    frames = movie_labels(4)
    stack = frames.reshape((2, 2) + frames.shape[1:])  # T=2, Z=2
    rois = labels_to_rois(stack, "TZYX")
    assert all(r.z_position and r.t_position and not r.position for r in rois)
    path = write_rois(tmp_path / "hyper.zip", rois)
    imp = session.to_imageplus(stack, "TZYX", title="hyper")
    assert imp.isHyperStack()
    result = session.rois_to_roi_manager(path, imp, replace=True)
    assert result.count == manager.getCount() == len(rois)
    for index, roi in enumerate(rois):
        jroi = manager.getRoi(index)
        assert (jroi.getZPosition(), jroi.getTPosition()) == (roi.z_position, roi.t_position)
        manager.select(imp, index)
        assert (imp.getZ(), imp.getT()) == (roi.z_position, roi.t_position)
    back, axes, _ = session.labels_from_roi_manager(imp)
    assert axes == "TZYX"
    np.testing.assert_array_equal(back, stack)


def test_push_rejects_rois_on_missing_planes(session, manager):
    from pyfiji_dl.fiji.guard import on_edt

    on_edt(manager.reset)
    single = session.to_imageplus(np.zeros((60, 70), np.uint8), "YX")
    with pytest.raises(RoiPlacementError, match="planes"):
        session.rois_to_roi_manager(movie_labels(), single, axes="TYX")
    assert manager.getCount() == 0


def test_overlay_round_trip(session):
    frames = movie_labels()
    imp = session.to_imageplus(frames, "TYX")
    result = session.rois_to_overlay(frames, imp, axes="TYX", replace=True)
    overlay = imp.getOverlay()
    assert result.target == "overlay" and overlay.size() == result.count == len(labels_to_rois(frames, "TYX"))
    assert sorted({overlay.get(i).getPosition() for i in range(overlay.size())}) == [1, 2, 3]
    back, axes, report = session.labels_from_overlay(imp)
    np.testing.assert_array_equal(back, frames)
    assert report.n_labels == len(np.unique(frames)) - 1


# ---------------------------------------------------------------- headless fallback
def test_session_without_display_falls_back_to_overlays(session, ij, caplog):
    from pyfiji_dl.fiji.session import FijiSession, FijiSessionError

    with caplog.at_level(logging.WARNING, logger="pyfiji_dl.fiji.session"):
        headless = FijiSession.start(display=False)
    assert not headless.has_roi_manager and not headless.display
    assert any("fall back to the image's Overlay" in r.getMessage() for r in caplog.records)
    assert "ROI Manager: not available" in headless.describe()
    with pytest.raises(FijiSessionError, match="Overlay"):
        headless.roi_manager()

    live = ij("ij.plugin.frame.RoiManager").getInstance()
    live_count = live.getCount() if live is not None else 0
    frames = movie_labels()
    imp = headless.to_imageplus(frames, "TYX")
    pushed = headless.rois_to_roi_manager(frames, imp, axes="TYX", replace=True)
    assert pushed.target == "overlay" and imp.getOverlay().size() == pushed.count > 0
    back, axes, _ = headless.labels_from_roi_manager(imp)
    np.testing.assert_array_equal(back, frames)
    assert (live.getCount() if live is not None else 0) == live_count  # the manager was not touched
    assert headless.show(imp) is False and imp.getWindow() is None


def test_start_outside_a_display(tmp_path):
    """A fresh process without DISPLAY: Xvfb is started before Java when it exists,
    else the session runs headless and says so; ROIs still travel via the Overlay."""
    script = textwrap.dedent("""
        import os, sys, numpy as np
        from pyfiji_dl.fiji.session import FijiSession
        s = FijiSession.start()
        labels = np.zeros((20, 30), np.uint16); labels[3:9, 4:12] = 5
        imp = s.to_imageplus(labels, "YX")
        pushed = s.rois_to_roi_manager(labels, imp)
        back, _, _ = s.labels_from_roi_manager(imp)
        vd = s.virtual_display
        print("RESULT", s.has_roi_manager, pushed.target, bool((back == labels).all()),
              vd.display if vd else None, vd.pid if vd else 0, os.environ.get("DISPLAY"))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
    java_bin = os.path.dirname(os.path.realpath(shutil.which("java") or "/usr/bin/java"))
    paths = {"xvfb": env.get("PATH", ""),  # Xvfb on PATH
             "no-xvfb": os.pathsep.join([os.path.dirname(sys.executable), java_bin])}  # Java only
    runs = {}
    for name, path in paths.items():
        proc = subprocess.run([sys.executable, "-c", script], env={**env, "PATH": path},
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1].split()
        runs[name] = (line, proc.stderr)
    line, _ = runs["xvfb"]
    assert line[1:4] == ["True", "roi-manager", "True"]
    assert line[4].startswith(":") and line[6] == line[4]
    assert not os.path.exists(f"/proc/{line[5]}")  # the Xvfb it started is gone
    line, stderr = runs["no-xvfb"]
    assert line[1:4] == ["False", "overlay", "True"] and line[4] == "None"
    assert "fall back to the image's Overlay" in stderr


def test_fiji_app_starts_through_pyimagej(tmp_path):
    """A Fiji.app goes to pyimagej's imagej.init (a real Fiji cannot be downloaded
    here, so a folder with an empty jars/ stands in and pyimagej rejects it)."""
    (tmp_path / "Fiji.app" / "jars").mkdir(parents=True)
    script = textwrap.dedent(f"""
        import traceback
        from pyfiji_dl.fiji.session import FijiSession
        try:
            FijiSession.start(fiji={str(tmp_path / "Fiji.app")!r}, mode="headless")
        except BaseException as exc:
            frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
            print("RESULT", type(exc).__name__, "init" in frames, "start_imagej" in frames)
    """)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1].split()
    # pyimagej 1.8 would fail with UnboundLocalError while guessing the Java version
    assert line[1:] == ["RuntimeError", "True", "True"], proc.stderr[-2000:]
    assert "does not appear to be a valid ImageJ2 installation" in proc.stdout + proc.stderr


def test_macros_with_imagej_window(session, tmp_path):
    """With ImageJ's main window (mode='gui', also Fiji's GUI) print() goes to the Log
    window and exit("...") to a modal message: both still come back as text."""
    script = textwrap.dedent("""
        import json
        from pyfiji_dl.fiji.session import FijiSession
        s = FijiSession.start(mode="gui")
        out = {"window": s.jimport("ij.IJ").getInstance() is not None}
        for key, code in (("ok", 'print("a");\\nprint("b " + getArgument());\\nreturn "v";'),
                          ("exit", 'print("c");\\nexit("bye now");\\nprint("d");'),
                          ("syntax", 'x = ;')):
            r = s.run_macro(code, "ARG", timeout=60)
            out[key] = [r.value, r.log, r.error, r.dialogs]
        print("RESULT", json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1][len("RESULT "):])
    assert out["window"] is True
    assert out["ok"] == ["v", "a\nb ARG\n", None, []]
    assert out["exit"] == [None, "c\n", "bye now", ["Macro: bye now"]]
    assert out["syntax"][2].startswith("Number or numeric function expected in line 1")


# ------------------------------------------------------------ NumPy <-> ImagePlus
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_imageplus_round_trip(session, dtype):
    rng = np.random.default_rng(3)
    shape = (2, 3, 2, 17, 23)  # T, Z, C, Y, X
    if dtype == np.float32:
        data = rng.normal(size=shape).astype(np.float32)
    else:
        data = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    cal = Calibration(pixel_width=0.25, pixel_height=0.3, voxel_depth=1.5, unit="um",
                      frame_interval=4.0, time_unit="min")
    imp = session.to_imageplus(data, "TZCYX", calibration=cal, title="rt")
    assert tuple(imp.getDimensions()) == (23, 17, 2, 3, 2)
    assert imp.getBitDepth() == {np.uint8: 8, np.uint16: 16, np.float32: 32}[dtype]
    # ImageJ's own view of one pixel: plane order is c fastest, then z, then t
    ip = imp.getStack().getProcessor(imp.getStackIndex(2, 3, 2))
    assert ip.getPixelValue(4, 7) == pytest.approx(float(data[1, 2, 1, 7, 4]))
    back, axes, back_cal = session.from_imageplus(imp)
    assert axes == "TZCYX" and back.dtype == dtype
    np.testing.assert_array_equal(back, data)
    assert back_cal.pixel_width == 0.25 and back_cal.pixel_height == 0.3 and back_cal.voxel_depth == 1.5
    assert back_cal.unit in ("um", "\u00b5m") and back_cal.frame_interval == 4.0 and back_cal.time_unit == "min"


def test_imageplus_matches_imagej_reading_a_tiff(session, ij, tmp_path):
    """ImageJ opening an ImageJ hyperstack TIFF is the oracle for axis order."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 65535, size=(3, 2, 2, 11, 13), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    opened = ij("ij.IJ").openImage(str(tmp_path / "h.tif"))
    back, axes, _ = session.from_imageplus(opened)
    assert axes == "TZCYX"
    np.testing.assert_array_equal(back, data)
    made = session.to_imageplus(data, "TZCYX")
    for index in (1, 5, 12):
        np.testing.assert_array_equal(
            np.frombuffer(memoryview(made.getStack().getPixels(index)), np.uint16),
            np.frombuffer(memoryview(opened.getStack().getPixels(index)), np.uint16))


def test_imageplus_labels_rgb_and_display(session):
    from jpype import JInt

    labels = np.zeros((30, 40), np.int32)
    labels[2:8, 3:9] = 1
    labels[10:20, 10:30] = 700
    imp = session.to_imageplus(labels, "YX", lut="glasbey", title="labels")
    assert imp.getBitDepth() == 16
    assert (imp.getDisplayRangeMin(), imp.getDisplayRangeMax()) == (0, 700)
    model = imp.getProcessor().getColorModel()
    assert (model.getRed(JInt(0)), model.getGreen(JInt(0)), model.getBlue(JInt(0))) == (0, 0, 0)
    assert max(model.getRed(JInt(1)), model.getGreen(JInt(1)), model.getBlue(JInt(1))) > 100
    np.testing.assert_array_equal(session.from_imageplus(imp)[0], labels)

    gray = session.to_imageplus(np.array([[10, 20], [30, 1000]], np.uint16), "YX")
    assert (gray.getDisplayRangeMin(), gray.getDisplayRangeMax()) == (10, 1000)

    rgb = np.random.default_rng(1).integers(0, 255, size=(2, 9, 7, 3), dtype=np.uint8)
    imp = session.to_imageplus(rgb, "ZYXS")
    assert imp.getBitDepth() == 24 and imp.getStackSize() == 2
    assert imp.getStack().getProcessor(2).getPixel(3, 4) & 0xFFFFFF == (
        int(rgb[1, 4, 3, 0]) << 16 | int(rgb[1, 4, 3, 1]) << 8 | int(rgb[1, 4, 3, 2]))
    back, axes, _ = session.from_imageplus(imp)
    assert axes == "ZYXS"
    np.testing.assert_array_equal(back, rgb)


# ------------------------------------------------------------------------ macros
def test_macro_value_log_and_arguments(session, tmp_path):
    result = session.run_macro('print("start");\nprint("arg=" + getArgument());\nreturn "v:" + getArgument();',
                               ["a b", 2], timeout=MACRO_TIMEOUT)
    assert result.error is None and result.ok
    assert result.value == "v:[a b] 2"
    assert result.log == "start\narg=[a b] 2\n"
    macro = tmp_path / "measure.ijm"
    macro.write_text('newImage("made", "16-bit ramp", 64, 32, 2);\nprint(nSlices);\nreturn getTitle() + " " + getArgument();\n')
    result = session.run_macro(macro, "x", timeout=MACRO_TIMEOUT)
    assert (result.value, result.log, result.error) == ("made x", "2\n", None)
    assert [str(i.getTitle()) for i in result.images] == ["made"]
    array, axes, _ = session.from_imageplus(result.image)
    assert axes == "ZYX" and array.shape == (2, 32, 64) and array.dtype == np.uint16
    result.image.close()
    assert session.run_macro('print("second run");', timeout=MACRO_TIMEOUT).log == "second run\n"


def test_macro_syntax_error_comes_back_as_text(session, ij):
    result = session.run_macro('print("one");\nx = ;\nprint("never");', timeout=MACRO_TIMEOUT)
    assert result.value is None
    assert "did not finish" not in result.error
    assert result.error.startswith("Number or numeric function expected in line 2")
    assert "never" not in result.log and result.log == "one\n"
    assert result.dialogs and result.dialogs[0].startswith("Macro Error")
    result = session.run_macro('run("No Such Command");', timeout=MACRO_TIMEOUT)
    assert 'Unrecognized command: "No Such Command"' in result.error
    assert not ij("ij.IJ").isMacro()  # ImageJ does not think a macro still runs
    assert session.run_macro('return "fine";', timeout=MACRO_TIMEOUT).value == "fine"


def test_macro_exit_message_is_the_error(session):
    result = session.run_macro('print("before");\nexit("Please open an image first");\nprint("after");',
                               timeout=MACRO_TIMEOUT)
    assert (result.error, result.log, result.value) == ("Please open an image first", "before\n", None)
    result = session.run_macro('n = 3;\nexit("only " + n + "\\nimages");', timeout=MACRO_TIMEOUT)
    assert result.error == "only 3\nimages"
    result = session.run_macro('print("done"); exit; print("after");', timeout=MACRO_TIMEOUT)
    assert (result.error, result.log) == (None, "done\n")


def test_macro_dialogs_are_cancelled_not_waited_for(session):
    result = session.run_macro('Dialog.create("Settings");\nDialog.addNumber("Radius", 3);\nDialog.show();\n'
                               'print("after dialog");', timeout=MACRO_TIMEOUT)
    assert result.dialogs and result.dialogs[0].startswith("Settings")
    assert "did not finish" not in result.error and "Settings" in result.error
    assert "after dialog" not in result.log
    result = session.run_macro('waitForUser("Draw a ROI");\nprint("after wait");', timeout=MACRO_TIMEOUT)
    assert result.dialogs == ["Action Required: Draw a ROI"] and "after wait" not in result.log
    assert "did not finish" not in result.error


@pytest.mark.parametrize("macro", ['waitForUser("Draw a ROI");\nprint("after wait");',
                                   'Dialog.create("Settings");\nDialog.show();\nprint("after dialog");'])
def test_a_dialog_whose_first_close_is_lost_is_closed_again(session, monkeypatch, macro):
    """A dialog's show() can miss a close that lands just as it starts waiting (the macro
    thread then waits for ever on an invisible dialog): the guard closes it again."""
    from pyfiji_dl.fiji.guard import DialogGuard

    lost = []

    def lost_for_4_s(close):  # as if every cancel and dispose of the first 4 s were missed
        def maybe(*args):
            lost.append(lost[0] if lost else time.monotonic())
            if time.monotonic() - lost[0] > 4.0:
                close(*args)
        return maybe

    monkeypatch.setattr(DialogGuard, "_cancel", lost_for_4_s(DialogGuard._cancel))
    monkeypatch.setattr(DialogGuard, "_dispose", staticmethod(lost_for_4_s(DialogGuard._dispose)))
    result = session.run_macro(macro, timeout=MACRO_TIMEOUT)
    assert "did not finish" not in (result.error or "") and "after" not in result.log
    assert result.seconds < 12 and len(result.dialogs) == 1


def test_macro_time_limit(session):
    result = session.run_macro("i = 0;\nwhile (true) { i++; }", timeout=1)
    assert "did not finish within 1 s" in result.error
    assert session.run_macro('return "alive";', timeout=MACRO_TIMEOUT).value == "alive"


# ------------------------------------------------------------------ other pieces
def test_attach_wraps_a_gateway_without_starting_anything(session, monkeypatch):
    from pyfiji_dl.fiji import jvm
    from pyfiji_dl.fiji.session import FijiSession, FijiSessionError

    class Legacy:
        def __init__(self, active):
            self.active = active

        def isActive(self):
            return self.active

    class UI:
        def isHeadless(self):
            return False

    class Gateway:  # the surface of a pyimagej gateway that attach() reads
        def __init__(self, active):
            self.legacy = Legacy(active)

        def ui(self):
            return UI()

    # as in Fiji's script editor: pyfiji_dl did not start this JVM
    monkeypatch.setattr(jvm, "_started", None)
    monkeypatch.setattr(jvm, "_gateway", None)
    monkeypatch.setattr(jvm, "_adopted", False)  # restored after the test
    gateway = Gateway(True)
    attached = FijiSession.attach(gateway)
    assert attached.kind == "attached" and attached.ij is gateway and attached.has_roi_manager
    assert jvm.gateway() is gateway and jvm.running().found_by == "attached pyimagej gateway"
    assert "attached" in attached.describe()
    assert attached.run_macro('return "ok";', timeout=MACRO_TIMEOUT).value == "ok"
    with pytest.raises(FijiSessionError, match="legacy"):
        FijiSession.attach(Gateway(False))


def test_virtual_display_starts_and_stops(monkeypatch):
    from pyfiji_dl.fiji.display import start_xvfb, xvfb_available

    if not xvfb_available():
        pytest.skip("Xvfb is not installed")
    monkeypatch.setenv("DISPLAY", ":outer")
    vd = start_xvfb(timeout=10)
    try:
        assert os.environ["DISPLAY"] == vd.display != ":outer"
        assert os.path.exists(f"/tmp/.X11-unix/X{vd.display[1:]}") and vd.process.poll() is None
    finally:
        vd.stop()
    assert vd.process.poll() is not None and os.environ["DISPLAY"] == ":outer"


def test_macro_argument_forms():
    from pyfiji_dl.fiji.macro import macro_argument

    assert macro_argument(None) == ""
    assert macro_argument("a b") == "a b"
    assert macro_argument(["x", "y z", 3]) == "x [y z] 3"
    assert macro_argument({"radius": 2, "title": "my cells"}) == "radius=2 title=[my cells]"


def test_push_accepts_roifile_lists_and_rejects_other_things(session, manager):
    roi = roifile.ImagejRoi.frompoints([[2, 2], [12, 2], [12, 9], [2, 9]], name="box")
    imp = session.to_imageplus(np.zeros((20, 20), np.uint8), "YX")
    result = session.rois_to_roi_manager([roi], imp, replace=True)
    assert result.names == ["box"] and manager.getCount() == 1
    with pytest.raises(TypeError, match="roifile"):
        session.rois_to_roi_manager(["not a roi"], imp)
    with pytest.raises(ValueError, match="axes"):
        session.rois_to_roi_manager(np.zeros((2, 5, 5), np.uint16), imp)
