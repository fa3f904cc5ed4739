"""Benchmark: label map <-> ROI zip on a 2048 x 2048 map with 2,000 nuclei.

Prints, for our conversions (exact, pixel-identical with ImageJ):
  labels -> ROI zip and ROI zip -> labels, for one frame and a 4-frame time-lapse,
  with peak memory (tracemalloc) of our code,
and the baselines they are compared with:
  * ImageJ's own per-label loop (macro: setThreshold(v, v) + Create Selection per
    label; and per-ROI fill for the reverse), run in real ImageJ;
  * skimage ``find_contours`` per label + roifile (not pixel-exact), and
    ``skimage.draw.polygon`` per ROI for the reverse.

Usage: python benchmarks/bench_rois_labels.py [--imagej-labels N] [--repeat R]
Targets (issue 2): each direction <= 0.3 s for the single frame on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np


def nuclei_label_map(shape=(2048, 2048), n=2000, seed=1):
    """Disc- and ellipse-shaped nuclei (radius 8-15 px), some touching, ids 1..n."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    placed = 0
    while placed < n:
        ry, rx = rng.uniform(8, 15, 2)
        cy, cx = rng.uniform(16, shape[0] - 16), rng.uniform(16, shape[1] - 16)
        y0, y1, x0, x1 = int(cy - ry) - 1, int(cy + ry) + 2, int(cx - rx) - 1, int(cx + rx) + 2
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disc = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        window = labels[y0:y1, x0:x1]
        if np.any(window[disc]):  # keep every label whole: touching allowed, overlapping not
            continue
        placed += 1
        window[disc] = placed
    return labels


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_memory(fn):
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def ours(labels, axes, workdir: Path, repeat: int):
    from pyfiji_dl.annotation.convert import labels_to_rois, rois_to_labels
    from pyfiji_dl.io.rois import read_rois, write_rois

    zip_path = workdir / f"ours_{axes}.zip"

    def to_zip():
        write_rois(zip_path, labels_to_rois(labels, axes))

    def to_labels():
        return rois_to_labels(read_rois(zip_path), labels.shape, axes)[0]

    to_zip(), to_labels()  # numba compilation and file cache warm-up
    t_zip, _ = best_of(to_zip, repeat)
    t_labels, back = best_of(to_labels, repeat)
    assert np.array_equal(back, labels), "round trip is not the identity"
    mem_zip, mem_labels = peak_memory(to_zip), peak_memory(to_labels)
    return t_zip, t_labels, mem_zip, mem_labels, zip_path


def skimage_baseline(labels, workdir: Path):
    import roifile
    from scipy import ndimage
    from skimage.draw import polygon
    from skimage.measure import find_contours

    zip_path = workdir / "skimage.zip"
    start = time.perf_counter()
    rois = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        crop = np.pad(labels[box] == label, 1)
        contour = max(find_contours(crop.astype(np.uint8), 0.5), key=len)
        points = contour[:, ::-1] + [box[1].start - 1, box[0].start - 1]
        rois.append(roifile.ImagejRoi.frompoints(points, name=f"{label:05d}"))
    with zipfile.ZipFile(zip_path, "w") as archive:
        for roi in rois:
            archive.writestr(roi.name + ".roi", roi.tobytes())
    t_zip = time.perf_counter() - start

    start = time.perf_counter()
    back = np.zeros(labels.shape, np.uint16)
    for label, roi in enumerate(roifile.roiread(zip_path), start=1):
        coords = roi.coordinates()
        rr, cc = polygon(coords[:, 1], coords[:, 0], labels.shape)
        back[rr, cc] = label
    t_labels = time.perf_counter() - start
    # What Fiji shows for skimage's outlines: fill them as ImageJ does (our exact
    # rasteriser is checked against ImageJ in the tests).
    from pyfiji_dl.annotation.convert import rois_to_labels
    from pyfiji_dl.io.rois import read_rois

    in_imagej = rois_to_labels(read_rois(zip_path), labels.shape, "YX", ids="order")[0]
    wrong = in_imagej != labels
    objects_wrong = np.union1d(labels[wrong], in_imagej[wrong])
    return t_zip, t_labels, (int(wrong.sum()), int(np.count_nonzero(objects_wrong)))


IMAGEJ_LOOPS = """
setBatchMode(true);
open(getArgument());
source = getImageID();
n = %d;
t0 = getTime();
for (v = 1; v <= n; v++) {
    setThreshold(v, v);
    run("Create Selection");
    Overlay.addSelection;
}
t1 = getTime();
count = Overlay.size;
newImage("labels", "16-bit black", getWidth(), getHeight(), 1);
target = getImageID();
t2 = getTime();
for (i = 0; i < count; i++) {
    selectImage(source);
    Overlay.activateSelection(i);
    selectImage(target);
    run("Restore Selection");
    run("Set...", "value=" + (i + 1));
}
t3 = getTime();
return "" + (t1 - t0) + " " + (t3 - t2) + " " + count;
"""


def imagej_baseline(labels, n_labels: int, workdir: Path):
    """Time ImageJ's own per-label macro loops in real ImageJ on the first ``n_labels`` labels."""
    from pyfiji_dl.fiji import jvm
    from pyfiji_dl.io.tiff import write_label_image

    subset = np.where(labels <= n_labels, labels, 0).astype(np.uint16)
    path = write_label_image(workdir / "imagej_input.tif", subset, "YX")
    jvm.start_imagej()
    out = str(jvm.jimport("ij.IJ").runMacro(IMAGEJ_LOOPS % n_labels, str(path)))
    to_rois_ms, to_labels_ms, count = out.split()
    return float(to_rois_ms) / 1000, float(to_labels_ms) / 1000, int(count)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--imagej-labels", type=int, default=2000,
                        help="labels ImageJ's loop converts (scaled to 2,000 when fewer)")
    args = parser.parse_args()

    labels = nuclei_label_map()
    movie = np.stack([np.roll(labels, 64 * k, axis=1) for k in range(4)])
    print(f"label map 2048x2048, {labels.max()} labels; time-lapse 4x2048x2048")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        t_zip, t_lab, m_zip, m_lab, _ = ours(labels, "YX", workdir, args.repeat)
        t_zip4, t_lab4, m_zip4, m_lab4, _ = ours(movie, "TYX", workdir, max(1, args.repeat // 2))
        s_zip, s_lab, (px_wrong, obj_wrong) = skimage_baseline(labels, workdir)
        ij_rois, ij_labels, ij_count = imagej_baseline(labels, args.imagej_labels, workdir)
    scale = 2000 / max(ij_count, 1)

    print("\n                                 labels -> ROI zip   ROI zip -> labels")
    print(f"pyfiji_dl (exact), 1 frame        {t_zip:8.3f} s          {t_lab:8.3f} s      target <= 0.3 s")
    print(f"pyfiji_dl (exact), 4 frames       {t_zip4:8.3f} s          {t_lab4:8.3f} s")
    print(f"peak memory (ours), 1 frame       {m_zip / 2**20:8.1f} MiB        {m_lab / 2**20:8.1f} MiB")
    print(f"peak memory (ours), 4 frames      {m_zip4 / 2**20:8.1f} MiB        {m_lab4 / 2**20:8.1f} MiB")
    print(f"skimage find_contours + roifile   {s_zip:8.3f} s          {s_lab:8.3f} s      "
          f"(not exact: in ImageJ {obj_wrong} objects, {px_wrong} px differ)")
    print(f"ImageJ per-label macro loop       {ij_rois * scale:8.3f} s          {ij_labels * scale:8.3f} s"
          + ("" if ij_count == 2000 else f"      (measured on {ij_count} labels, scaled to 2,000)"))
    print("\nratios (baseline time / our time):")
    print(f"  vs ImageJ's per-label loop:           {ij_rois * scale / t_zip:8.0f}x (labels -> ROIs, "
          f"ThresholdToSelection), {ij_labels * scale / t_lab:.0f}x (ROIs -> labels, fill per ROI)")
    print(f"  vs skimage find_contours + roifile:   {s_zip / t_zip:8.1f}x (labels -> ROIs), "
          f"{s_lab / t_lab:.1f}x (ROIs -> labels, skimage.draw.polygon)")


if __name__ == "__main__":
    main()
