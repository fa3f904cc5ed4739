"""Benchmark: ROI Manager <-> label map through FijiSession, against ImageJ's own macro loops.

A 2048 x 2048 label map with 2,000 nuclei-sized objects (the map of
``bench_rois_labels.py``) is pushed into ImageJ's live ROI Manager and pulled back:

* pyfiji_dl: ``session.rois_to_roi_manager(labels, imp)`` (trace every label on pixel
  edges, ROI zip, the manager's "Open") and ``session.labels_from_roi_manager(imp)``
  (each ROI's ``RoiEncoder`` bytes, ImageJ-exact rasterisation);
* baseline, what a Fiji macro does for the same job, timed inside ImageJ with getTime():
  pull: ``for (i...) { roiManager("select", i); run("Set...", "value=" + (i+1)); }``
  push: ``for (v...) { setThreshold(v, v); run("Create Selection"); roiManager("add"); }``

Both results are checked: pulled maps equal the input, and the ROIs each side pushes
fill back to the input labels.

Usage (needs a display for the ROI Manager):
    xvfb-run -a python benchmarks/bench_fiji_session.py [--imagej-labels N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rois_labels import nuclei_label_map  # noqa: E402

PULL_LOOP = """
setBatchMode(true);
n = roiManager("count");
newImage("pulled", "16-bit black", %(width)d, %(height)d, 1);
t0 = getTime();
for (i = 0; i < n; i++) {
    roiManager("select", i);
    run("Set...", "value=" + (i + 1));
}
t1 = getTime();
run("Select None");
return "" + (t1 - t0) + " " + n;
"""

PUSH_LOOP = """
setBatchMode(true);
roiManager("reset");
n = %(n)d;
t0 = getTime();
for (v = 1; v <= n; v++) {
    setThreshold(v, v);
    run("Create Selection");
    roiManager("add");
}
t1 = getTime();
resetThreshold();
run("Select None");
return "" + (t1 - t0) + " " + roiManager("count");
"""


def best_of(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--imagej-labels", type=int, default=2000,
                        help="labels ImageJ's push loop converts (scaled to 2,000 when fewer)")
    args = parser.parse_args()

    from pyfiji_dl.fiji.session import FijiSession

    session = FijiSession.start()
    if not session.has_roi_manager:
        sys.exit("No ROI Manager (no display): run under 'xvfb-run -a'.")
    print(session.describe())
    labels = nuclei_label_map()
    n_labels = int(labels.max())
    height, width = labels.shape
    imp = session.to_imageplus(labels, "YX", title="nuclei labels", lut="glasbey")
    manager = session.roi_manager(create=True)
    print(f"\nlabel map {width}x{height}, {n_labels} labels; best of {args.repeat} for pyfiji_dl")

    # warm-up: numba compiles the tracer and the rasteriser once per process
    session.rois_to_roi_manager(labels, imp, replace=True)
    session.labels_from_roi_manager(imp)

    t_push, pushed = best_of(lambda: session.rois_to_roi_manager(labels, imp, replace=True), args.repeat)
    assert pushed.count == manager.getCount() == n_labels, (pushed.count, manager.getCount())
    t_pull, (pulled, axes, report) = best_of(lambda: session.labels_from_roi_manager(imp), args.repeat)
    assert axes == "YX" and np.array_equal(pulled, labels), "pull is not the identity"

    # ImageJ's loops on the same live ROI Manager and image
    result = session.run_macro(PULL_LOOP % {"width": width, "height": height}, imp=imp)
    if result.error:
        sys.exit(f"ImageJ pull loop failed: {result.error}")
    ij_pull_ms, ij_pull_count = (float(v) for v in result.value.split())
    ij_pulled, _, _ = session.from_imageplus(result.image)
    ij_pull_wrong = int(np.count_nonzero(ij_pulled != labels))

    subset = min(args.imagej_labels, n_labels)
    result = session.run_macro(PUSH_LOOP % {"n": subset}, imp=imp)
    if result.error:
        sys.exit(f"ImageJ push loop failed: {result.error}")
    ij_push_ms, ij_push_count = (float(v) for v in result.value.split())
    expected = np.where(labels <= subset, labels, 0)
    ij_pushed, _, _ = session.labels_from_roi_manager(imp, ids="order")
    ij_push_wrong = int(np.count_nonzero(ij_pushed != expected))
    scale = n_labels / max(subset, 1)
    ij_pull, ij_push = ij_pull_ms / 1000, ij_push_ms / 1000 * scale

    print("\n                                  ROI Manager -> labels   labels -> ROI Manager")
    print(f"pyfiji_dl FijiSession             {t_pull:10.3f} s            {t_push:10.3f} s")
    print(f"ImageJ macro loop                 {ij_pull:10.3f} s            {ij_push:10.3f} s"
          + ("" if subset == n_labels else f"   (push measured on {subset} labels, scaled)"))
    print(f"ratio (ImageJ / pyfiji_dl)        {ij_pull / t_pull:10.0f} x            {ij_push / t_push:10.0f} x")
    stack = np.random.default_rng(0).random((4, height, width), dtype=np.float32)
    t_to, stack_imp = best_of(lambda: session.to_imageplus(stack, "TYX"), args.repeat)
    t_from, (back, _, _) = best_of(lambda: session.from_imageplus(stack_imp), args.repeat)
    assert np.array_equal(back, stack)
    mib = stack.nbytes / 2**20
    print(f"\nNumPy -> ImagePlus, 4x{height}x{width} float32 ({mib:.0f} MiB): {t_to:.3f} s; "
          f"ImagePlus -> NumPy: {t_from:.3f} s")
    print("\nchecks:")
    print(f"  pyfiji_dl pull == input label map: True; push gave {pushed.count} ROIs")
    print(f"  ImageJ pull loop: {int(ij_pull_count)} ROIs, {ij_pull_wrong} pixels differ from the input")
    print(f"  ImageJ push loop: {int(ij_push_count)} ROIs, filled back {ij_push_wrong} pixels differ from the input")
    from pyfiji_dl.fiji.guard import on_edt

    on_edt(manager.reset)


if __name__ == "__main__":
    main()
