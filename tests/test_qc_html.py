"""The QC report as a person sees it: rendered by headless Chromium, pictures shown."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from pyfiji_dl.qc.instance_report import write_matching_report


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (make test installs it)")
        pytest.skip("chromium not installed")
    return found


def render(browser, page, tmp_path, *, dump=False):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    if dump:
        out = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120)
        return out.stdout
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1300,2600", page.as_uri()],
                   capture_output=True, timeout=120)
    return shot


def test_matching_report_renders_with_its_pictures(tmp_path):
    browser = chromium()
    yy, xx = np.mgrid[:96, :96]
    truth = np.zeros((96, 96), np.int32)
    pred = np.zeros((96, 96), np.int32)
    for label, (cy, cx) in enumerate([(20, 20), (20, 70), (70, 20), (70, 70)], start=1):
        truth[(yy - cy) ** 2 + (xx - cx) ** 2 < 100] = label
        if label < 4:
            pred[(yy - cy - 1) ** 2 + (xx - cx) ** 2 < 100] = label
    pred[(yy - 45) ** 2 + (xx - 45) ** 2 < 25] = 9  # a false positive
    page = write_matching_report(tmp_path / "report", title="QC test", names=["a"], images=[None],
                                 truths=[truth], predictions=[pred])
    dom = render(browser, page, tmp_path, dump=True)
    assert "<h1>QC test</h1>" in dom or "QC test" in dom
    sources = [part.split('"')[1] for part in dom.split("<img")[1:]]
    assert "metrics_vs_iou.png" in sources and "overlay_a.png" in sources
    assert all((page.parent / s).exists() for s in sources)

    from PIL import Image

    shot = np.asarray(Image.open(render(browser, page, tmp_path)).convert("RGB")).astype(int)
    green = (shot[..., 1] > 150) & (shot[..., 0] < 100) & (shot[..., 2] < 100)
    red = (shot[..., 0] > 150) & (shot[..., 1] < 80) & (shot[..., 2] < 80)
    assert green.sum() > 200 and red.sum() > 20  # the overlay's TP and FP are on screen
