"""Test helpers for pyfiji_dl.annotation.trace: label maps, and ImageJ as the oracle.

ImageJ decides what a ROI covers: ``RoiDecoder`` turns the bytes into a Roi and
``ImageProcessor.fill(roi)`` / ``roi.getMask()`` at ``roi.getBounds()`` paint it
(``ij.process.PolygonFiller``). Nothing here re-implements that.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_CROSS = ndimage.generate_binary_structure(2, 1)  # 4-connectivity
_SQUARE = ndimage.generate_binary_structure(2, 2)  # 8-connectivity


# ----------------------------------------------------------------------------
# label maps
# ----------------------------------------------------------------------------


def _disc(shape, cy, cx, r):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r


def random_label_map(seed: int, shape=(150, 190)) -> np.ndarray:
    """A label map with every awkward case, painted in random order (later wins).

    Random touching discs, blobs with holes, rings with labels nested in their
    holes (and a ring nested in a ring), checkerboard patches (diagonal pinches,
    one and two labels), a diagonal staircase, single pixels, one-pixel lines,
    labels on the image border and corners, labels in several parts, and the
    large ids 65535 and 70000. Overpainting splits and notches earlier labels,
    so more cases arise than are drawn.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    lab = np.zeros(shape, np.int32)
    ids = iter(rng.permutation(np.arange(1, 60000))[:400].tolist())

    def put(mask, label=None):
        label = next(ids) if label is None else label
        lab[mask] = label
        return label

    def rnd_center(margin=0):
        return rng.uniform(margin, h - margin), rng.uniform(margin, w - margin)

    # touching random discs
    for _ in range(25):
        cy, cx = rnd_center()
        put(_disc(shape, cy, cx, rng.uniform(2, 10)))
    # blobs with holes
    for _ in range(4):
        cy, cx = rnd_center(12)
        r = rng.uniform(8, 12)
        m = _disc(shape, cy, cx, r)
        for _ in range(rng.integers(1, 4)):
            a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0, r * 0.6)
            m &= ~_disc(shape, cy + d * np.sin(a), cx + d * np.cos(a), rng.uniform(1, 3))
        put(m)
    # rings with nested labels, and a ring in a ring
    for k in range(3):
        cy, cx = rnd_center(16)
        r = rng.uniform(9, 14)
        put(_disc(shape, cy, cx, r) & ~_disc(shape, cy, cx, r - rng.uniform(1, 3)))
        if k == 0:
            put(_disc(shape, cy, cx, r - 4) & ~_disc(shape, cy, cx, r - 5.5))
            put(_disc(shape, cy, cx, r - 7))  # inside the inner ring's hole
        elif k == 1:
            put(_disc(shape, cy, cx, r - 5))
    # checkerboard patches: one label, and two labels interleaved
    for two in (False, True):
        y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        n = int(rng.integers(3, 8))
        yy, xx = np.mgrid[:n, :n]
        even = (yy + xx) % 2 == 0
        sub = lab[y0 : y0 + n, x0 : x0 + n]
        a = next(ids)
        sub[even] = a
        sub[~even] = next(ids) if two else 0
    # diagonal staircase (8-connected only) and one-pixel lines
    y0, x0 = int(rng.integers(0, h - 12)), int(rng.integers(0, w - 12))
    a = next(ids)
    for k in range(int(rng.integers(3, 12))):
        lab[y0 + k, x0 + k] = a
    y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w - 30))
    lab[y0, x0 : x0 + int(rng.integers(2, 30))] = next(ids)
    y0, x0 = int(rng.integers(0, h - 30)), int(rng.integers(0, w))
    lab[y0 : y0 + int(rng.integers(2, 30)), x0] = next(ids)
    # border and corner labels
    lab[: rng.integers(1, 4), rng.integers(0, w // 2) : rng.integers(w // 2, w)] = next(ids)
    lab[rng.integers(0, h // 2) : rng.integers(h // 2, h), -int(rng.integers(1, 4)) :] = next(ids)
    lab[-2:, :3] = next(ids)
    lab[0, -1] = next(ids)
    # labels in several parts; single pixels
    a = next(ids)
    for _ in range(3):
        cy, cx = rnd_center()
        lab[_disc(shape, cy, cx, rng.uniform(1, 4))] = a
    a = next(ids)
    for _ in range(4):
        lab[rng.integers(0, h), rng.integers(0, w)] = a
    for _ in range(6):
        lab[rng.integers(0, h), rng.integers(0, w)] = next(ids)
    # large ids: a disc and a blob in two parts
    cy, cx = rnd_center()
    put(_disc(shape, cy, cx, rng.uniform(3, 8)), 65535)
    for _ in range(2):
        cy, cx = rnd_center()
        put(_disc(shape, cy, cx, rng.uniform(2, 6)), 70000)
    return lab


def nucleus_map(shape=(2048, 2048), n=2000, seed=0) -> np.ndarray:
    """``n`` discs of radius 8-15 px at random places; later discs fill only
    free pixels, so they touch (and notch) earlier ones instead of splitting them."""
    rng = np.random.default_rng(seed)
    h, w = shape
    lab = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        r = rng.uniform(8, 15)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, h)
        x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, w)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        m = (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r
        sub = lab[y0:y1, x0:x1]
        sub[m & (sub == 0)] = k
    return lab


def coins_label_map() -> np.ndarray:
    """A real-looking map: scikit-image's coins photo, thresholded and split into
    touching objects by a distance-transform watershed."""
    from skimage import data, filters, measure, morphology, segmentation

    img = data.coins()
    fg = img > filters.threshold_otsu(img)
    parts, n = ndimage.label(fg)
    fg &= (np.bincount(parts.ravel(), minlength=n + 1) >= 20)[parts]  # no specks
    holes, n = ndimage.label(ndimage.binary_fill_holes(fg) & ~fg)
    fg |= ((np.bincount(holes.ravel(), minlength=n + 1) < 30) & (np.arange(n + 1) > 0))[holes]
    dist = ndimage.distance_transform_edt(fg)
    peaks = morphology.h_maxima(ndimage.gaussian_filter(dist, 2), 2)
    markers = measure.label(peaks)
    return segmentation.watershed(-dist, markers, mask=fg).astype(np.int32)


def label_topology(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """Label -> (8-connected parts, holes), computed independently with scipy.

    A hole is a 4-connected region of other pixels enclosed by the label.
    """
    result = {}
    for label, sl in zip(*_objects(labels)):
        sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        mask = np.pad(labels[sl] == label, 1)
        parts = ndimage.label(mask, _SQUARE)[1]
        filled = ndimage.binary_fill_holes(mask, _CROSS)
        holes = ndimage.label(filled & ~mask, _CROSS)[1]
        result[label] = (parts, holes)
    return result


def _objects(labels):
    ids = np.unique(labels)
    ids = ids[ids != 0]
    compact = np.searchsorted(ids, labels) + 1
    compact[labels == 0] = 0
    return ids.tolist(), ndimage.find_objects(compact)


def label_boxes(labels: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Label -> (x, y, width, height) of its pixels."""
    return {
        label: (sl[1].start, sl[0].start, sl[1].stop - sl[1].start, sl[0].stop - sl[0].start)
        for label, sl in zip(*_objects(labels))
    }


def even_odd_fill(loops, shape) -> np.ndarray:
    """Even-odd fill of closed pixel-edge loops (NumPy, for trace_label_outlines)."""
    out = np.zeros((shape[0], shape[1] + 1), bool)
    for loop in loops:
        nxt = np.roll(loop, -1, axis=0)
        for (x0, y0), (x1, y1) in zip(loop.tolist(), nxt.tolist()):
            if x0 == x1 and y0 != y1:
                out[min(y0, y1) : max(y0, y1), x0] ^= True
    return np.logical_xor.accumulate(out, axis=1)[:, :-1]


# ----------------------------------------------------------------------------
# ImageJ
# ----------------------------------------------------------------------------


def java_bytes(data: bytes):
    import jpype

    return jpype.JArray(jpype.JByte)(data)


def decode_roi(ij, data: bytes, entry_name: str = "roi.roi"):
    """ImageJ's Roi from .roi bytes (``new RoiDecoder(byte[], name).getRoi()``)."""
    roi = ij("ij.io.RoiDecoder")(java_bytes(data), entry_name).getRoi()
    assert roi is not None, "ImageJ could not decode the ROI"
    return roi


def imagej_mask(roi) -> tuple[int, int, np.ndarray]:
    """(x, y, mask) of a decoded Roi: ``getMask()`` placed at ``getBounds()``."""
    b = roi.getBounds()
    mask = roi.getMask()
    assert mask is not None, f"{roi} has no mask"
    assert (mask.getWidth(), mask.getHeight()) == (b.width, b.height)
    pixels = np.asarray(mask.getPixels()).reshape(b.height, b.width)
    return int(b.x), int(b.y), pixels != 0


def imagej_paint(ij, decoded, values, shape) -> np.ndarray:
    """Fill each decoded Roi with its value into a FloatProcessor of ``shape``
    (``setValue`` + ``ImageProcessor.fill(roi)``) and return the pixels."""
    ip = ij("ij.process.FloatProcessor")(int(shape[1]), int(shape[0]))
    for roi, value in zip(decoded, values):
        ip.setValue(float(value))
        ip.fill(roi)
    return np.asarray(ip.getPixels()).reshape(shape).copy()
