"""CLAHE that reproduces Fiji's *Process > Enhance Local Contrast (CLAHE)*.

Fiji's command is Stephan Saalfeld's plugin from the mpicbg library
(``mpicbg.ij.clahe.PlugIn``, which calls ``mpicbg.ij.clahe.Flat`` for the exact
sliding-window version or ``mpicbg.ij.clahe.FastFlat`` when *fast (less
accurate)* is ticked).  :func:`clahe` is an independent NumPy/numba
re-implementation of what that plugin computes, written so that every
intermediate number matches: the same 8-bit working view of the image, the same
histogram binning, the same clip-limit formula and iterative redistribution of
the clipped counts, the same float32 arithmetic and Java rounding/casting, and
the same transfer of the 8-bit result back to 16-bit or 32-bit pixels.  Against
Fiji (mpicbg at commit 9bd56f1, ImageJ 1.53t) it is pixel-identical on the
real test images shipped in ``tests/data/clahe``.

How Fiji's CLAHE works, in short
--------------------------------
1. *8-bit view.*  The plugin always equalises an 8-bit image: an 8-bit image is
   used as it is (its display range is ignored); a 16-bit image is mapped to
   0..255 through its current display range ``[lo, hi]`` as ImageJ's
   ``TypeConverter`` does (``round(max(v - lo, 0) * 256 / (hi - lo + 1))``,
   clamped to 255); a 32-bit image through ``FloatProcessor.create8BitImage``
   (``round(max(v - lo, 0) * 255 / (hi - lo))``, clamped to 255, NaN -> 0).
2. *Histogram bins.*  The dialog's "histogram bins" ``B`` means ``B - 1``
   intervals: an 8-bit value ``g`` falls in bin ``round(g / 255 * (B - 1))``
   (float32), so the default 256 maps every grey level to its own bin.
3. *Block.*  The dialog's "blocksize" ``S`` gives the radius ``(S - 1) // 2``;
   the exact version uses, for every pixel, the square window of that radius
   centred on it, cut at the image border (so windows near the border hold
   fewer pixels; there is no padding or mirroring).  The histogram is updated
   incrementally while the window slides along a row.
4. *Clip limit.*  ``limit = int(slope * n / (B - 1) + 0.5)`` in float32, with
   ``n`` the number of pixels in the (cut) window; with a mask the slope at a
   pixel is ``1 + mask / 255 * (slope - 1)``.  Counts above the limit are cut
   off and redistributed over all ``B`` bins (an even share, and the remainder
   one by one at a regular stride), repeatedly, until the number of counts cut
   off no longer changes.
5. *Mapping.*  The new 8-bit value is
   ``round(255 * (cdf(g) - cdf_min) / (cdf_max - cdf_min))`` of the clipped
   histogram, where ``cdf_min`` is the count of its first non-empty bin.
6. *Back to the image.*  8-bit: the result replaces the pixel (blended with the
   original by the mask weight when a mask is given).  16-bit and 32-bit: each
   pixel is multiplied around the display minimum by the 8-bit gain
   ``a = new8 / old8`` (``a = 1`` where ``old8 == 0``):
   ``v' = a * (v - lo) + lo`` (evaluated as ``m * (a * (v - lo) + lo - v) + v``
   in float32 with mask weight ``m``), rounded and clamped to 0..65535 for
   16-bit.  So 16/32-bit results keep their full dynamic range and values below
   the display minimum are not clamped, but pixels whose 8-bit view is 0 are
   left unchanged.

Known quirks of Fiji that are reproduced on purpose: for images narrower than
the block radius the exact version never counts the last column in the
histogram; constant 8-bit images are changed (clipping spreads the single
histogram peak over all bins); constant 16/32-bit images with the default
display range are left unchanged (their 8-bit view is all zero).  Fiji's fast
version fails (``ArrayIndexOutOfBoundsException``) on images smaller than one
block, and :func:`clahe` raises ``ValueError`` there instead.  The fast version
follows mpicbg >= 1.6.5, which also processes the last row and column (older
releases left them untouched).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import InputError, OptionError
from .java_numbers import d2i_array, jit_d2i

__all__ = ["clahe"]

_JIT = dict(cache=True, nogil=True, error_model="numpy")

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FHALF = np.float32(0.5)
_F255 = np.float32(255.0)

# A safety net only: Fiji's redistribution loop terminates after a handful of
# rounds for any non-negative slope; Java would loop forever if it did not.
_MAX_CLIP_ROUNDS = 100000


# ---------------------------------------------------------------------------
# Histogram clipping and mapping (shared by the exact and the fast version)
# ---------------------------------------------------------------------------


@njit(**_JIT)
def _redistribute(clipped, entries):
    """Spread ``entries`` counts over all bins the way Fiji does."""
    nb = clipped.shape[0]
    share = entries // nb
    rest = entries - share * nb
    if share != 0:
        for i in range(nb):
            clipped[i] += share
    if rest != 0:
        # one extra count every `stride` bins, starting at stride // 2; this
        # can hand out more than `rest` counts, which the next round cuts again
        stride = (nb - 1) // rest
        i = stride // 2
        while i < nb:
            clipped[i] += 1
            i += stride


@njit(**_JIT)
def _clip_histogram(hist, clipped, limit):
    """Clip ``hist`` at ``limit`` into ``clipped`` and redistribute, Fiji-style.

    Rounds of "cut everything above the limit, hand the cut counts back to all
    bins" are repeated until a round cuts as many counts as the previous one.
    Returns the total count of ``clipped``.
    """
    nb = hist.shape[0]
    for i in range(nb):
        clipped[i] = hist[i]
    entries = 0
    rounds = 0
    while True:
        before = entries
        entries = 0
        for i in range(nb):
            c = clipped[i]
            if c > limit:
                entries += c - limit
                clipped[i] = limit
        _redistribute(clipped, entries)
        rounds += 1
        if entries == before or rounds > _MAX_CLIP_ROUNDS:
            break
    total = 0
    for i in range(nb):
        total += clipped[i]
    return total


@njit(**_JIT)
def _first_nonempty(clipped):
    nb = clipped.shape[0]
    for i in range(nb - 1):
        if clipped[i] != 0:
            return i
    return nb - 1


@njit(**_JIT)
def _mapped_byte(v, clipped, total):
    """New 8-bit value (as Java would store it in a byte) of bin ``v``."""
    h_min = _first_nonempty(clipped)
    cdf = 0
    for i in range(h_min, v + 1):  # empty (cdf = 0) when v < h_min
        cdf += clipped[i]
    cdf_min = clipped[h_min]
    t = np.float32(cdf - cdf_min) / np.float32(total - cdf_min)
    return jit_d2i(t * _F255 + _FHALF) & 0xFF


# ---------------------------------------------------------------------------
# Exact sliding-window version (mpicbg.ij.clahe.Flat)
# ---------------------------------------------------------------------------


@njit(**_JIT)
def _flat(idx, radius, nbins, slope, mask, use_mask):
    """8-bit CLAHE result of the bin-index image ``idx`` (exact version)."""
    height, width = idx.shape
    nb = nbins + 1
    dst = np.empty((height, width), np.uint8)
    hist = np.zeros(nb, np.int64)
    clipped = np.zeros(nb, np.int64)
    f_bins = np.float32(nbins)
    slope_m1 = slope - _F1
    for y in range(height):
        y_min = max(0, y - radius)
        y_max = min(height, y + radius + 1)
        h = y_max - y_min
        hist[:] = 0
        # Fiji fills columns [0, min(width - 1, radius)) before the first pixel
        # and then adds column x + radius while x + radius < width.
        for yi in range(y_min, y_max):
            for xi in range(0, min(width - 1, radius)):
                hist[idx[yi, xi]] += 1
        for x in range(width):
            x_min = max(0, x - radius)
            x_max = x + radius + 1
            n = h * (min(width, x_max) - x_min)
            if use_mask:
                w = _F1 + np.float32(mask[y, x]) / _F255 * slope_m1
                limit = jit_d2i(w * np.float32(n) / f_bins + _FHALF)
            else:
                limit = jit_d2i(slope * np.float32(n) / f_bins + _FHALF)
            if x_min > 0:
                for yi in range(y_min, y_max):
                    hist[idx[yi, x_min - 1]] -= 1
            if x_max <= width:
                for yi in range(y_min, y_max):
                    hist[idx[yi, x_max - 1]] += 1
            total = _clip_histogram(hist, clipped, limit)
            dst[y, x] = _mapped_byte(idx[y, x], clipped, total)
    return dst


# ---------------------------------------------------------------------------
# Interpolated version (mpicbg.ij.clahe.FastFlat)
# ---------------------------------------------------------------------------


def _block_centres(size: int, radius: int) -> np.ndarray:
    block = 2 * radius + 1
    count, rest = divmod(size, block)
    first = [i * block + radius + 1 for i in range(count)]
    if rest == 0:
        centres = first
    elif rest == 1:
        centres = first + [size - radius - 1]
    else:
        centres = [radius + 1] + [c + rest // 2 for c in first] + [size - radius - 1]
    return np.asarray(centres, np.int64)


@njit(**_JIT)
def _transfer_table(idx, radius, nbins, limit, cx, cy):
    """Fiji's ``createTransfer`` for the block centred at (cx, cy)."""
    height, width = idx.shape
    nb = nbins + 1
    hist = np.zeros(nb, np.int64)
    for y in range(max(0, cy - radius), min(height, cy + radius + 1)):
        for x in range(max(0, cx - radius), min(width, cx + radius + 1)):
            hist[idx[y, x]] += 1
    cdfs = np.zeros(nb, np.int64)
    _clip_histogram(hist, cdfs, limit)
    h_min = _first_nonempty(cdfs)
    cdf = 0
    for i in range(h_min, nb):
        cdf += cdfs[i]
        cdfs[i] = cdf
    cdf_min = cdfs[h_min]
    span = np.float32(cdfs[nb - 1] - cdf_min)
    table = np.empty(nb, np.float32)
    for i in range(nb):
        table[i] = np.float32(cdfs[i] - cdf_min) / span
    return table


@njit(**_JIT)
def _fast_flat(idx, radius, nbins, slope, cs, rs):
    """8-bit CLAHE result of ``idx``, interpolated between block transfers."""
    height, width = idx.shape
    nb = nbins + 1
    block = 2 * radius + 1
    limit = jit_d2i(
        slope * np.float32(block) * np.float32(block) / np.float32(nbins) + _FHALF
    )
    ncs = cs.shape[0]
    nrs = rs.shape[0]
    tables = np.empty((nrs, ncs, nb), np.float32)
    for j in range(nrs):
        for i in range(ncs):
            tables[j, i] = _transfer_table(idx, radius, nbins, limit, cs[i], rs[j])
    dst = np.empty((height, width), np.uint8)
    for r in range(nrs + 1):
        r0 = max(0, r - 1)
        r1 = min(nrs - 1, r)
        dr = np.float32(rs[r1] - rs[r0])
        y_lo = 0 if r == 0 else rs[r0]
        y_hi = rs[r1] if r < nrs else height
        for c in range(ncs + 1):
            c0 = max(0, c - 1)
            c1 = min(ncs - 1, c)
            dc = np.float32(cs[c1] - cs[c0])
            x_lo = 0 if c == 0 else cs[c0]
            x_hi = cs[c1] if c < ncs else width
            tl = tables[r0, c0]
            tr = tables[r0, c1]
            bl = tables[r1, c0]
            br = tables[r1, c1]
            for y in range(y_lo, y_hi):
                wy = np.float32(rs[r1] - y) / dr
                for x in range(x_lo, x_hi):
                    wx = np.float32(cs[c1] - x) / dc
                    v = idx[y, x]
                    if c0 == c1:
                        t0 = tl[v]
                        t1 = bl[v]
                    else:
                        t0 = wx * tl[v] + (_F1 - wx) * tr[v]
                        t1 = wx * bl[v] + (_F1 - wx) * br[v]
                    if r0 == r1:
                        t = t0
                    else:
                        t = wy * t0 + (_F1 - wy) * t1
                    g = jit_d2i(t * _F255 + _FHALF)
                    dst[y, x] = max(0, min(255, g))
    return dst


# ---------------------------------------------------------------------------
# Transfer of the 8-bit result back to the image
# ---------------------------------------------------------------------------


@njit(**_JIT)
def _apply_8bit(src, dst, mask, use_mask):
    height, width = src.shape
    out = np.empty((height, width), np.uint8)
    for y in range(height):
        for x in range(width):
            m = np.float32(mask[y, x]) / _F255 if use_mask else _F1
            b = m * np.float32(dst[y, x]) + (_F1 - m) * np.float32(src[y, x])
            out[y, x] = jit_d2i(b + _FHALF) & 0xFF
    return out


@njit(**_JIT)
def _gain(src, dst, y, x):
    s = np.float32(src[y, x])
    if s == _F0:
        return _F1
    return np.float32(dst[y, x]) / s


@njit(**_JIT)
def _apply_16bit(image, src, dst, lo, mask, use_mask):
    height, width = image.shape
    out = np.empty((height, width), np.uint16)
    f_lo = np.float32(lo)
    for y in range(height):
        for x in range(width):
            m = np.float32(mask[y, x]) / _F255 if use_mask else _F1
            v = np.int64(image[y, x])
            a = _gain(src, dst, y, x)
            b = m * (a * np.float32(v - lo) + f_lo - np.float32(v)) + np.float32(v)
            out[y, x] = max(0, min(65535, jit_d2i(b + _FHALF)))
    return out


@njit(**_JIT)
def _apply_32bit(image, src, dst, lo, mask, use_mask):
    height, width = image.shape
    out = np.empty((height, width), np.float32)
    for y in range(height):
        for x in range(width):
            m = np.float32(mask[y, x]) / _F255 if use_mask else _F1
            v = image[y, x]
            a = _gain(src, dst, y, x)
            out[y, x] = m * (a * (v - lo) + lo - v) + v
    return out


# ---------------------------------------------------------------------------
# 8-bit view (ImageJ's convertToByte(true) with the display range)
# ---------------------------------------------------------------------------


def _range_16bit(plane: np.ndarray, display_range) -> tuple[int, int]:
    """``(int) getMin()``, ``(int) getMax()`` of a ShortProcessor."""
    if display_range is None or (display_range[0] == 0 and display_range[1] == 0):
        return int(plane.min()), int(plane.max())
    lo, hi = float(display_range[0]), float(display_range[1])
    lo = max(lo, 0.0)
    hi = min(hi, 65535.0)
    return int(lo), int(hi)


def _view_16bit(plane: np.ndarray, lo: int, hi: int) -> np.ndarray:
    scale = 256.0 / (hi - lo + 1)
    value = np.maximum(plane.astype(np.int64) - lo, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        g = d2i_array(value * scale + 0.5)
    return (np.minimum(g, 255) & 0xFF).astype(np.uint8)


def _range_32bit(plane: np.ndarray, display_range) -> tuple[float, float]:
    """FloatProcessor's float32 min/max: NaNs are skipped, infinities are not."""
    if display_range is None or (display_range[0] == 0 and display_range[1] == 0):
        finite = plane[~np.isnan(plane)]
        if finite.size == 0:
            return float("nan"), float("nan")
        return float(finite.min()), float(finite.max())
    return float(np.float32(display_range[0])), float(np.float32(display_range[1]))


def _view_32bit(plane: np.ndarray, lo: float, hi: float) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        scale = np.float64(255.0) / (np.float64(hi) - np.float64(lo))
        value = plane.astype(np.float64) - lo
        value[value < 0] = 0.0
        g = d2i_array(value * scale + 0.5)
    return (np.minimum(g, 255) & 0xFF).astype(np.uint8)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def _bin_lut(nbins: int) -> np.ndarray:
    """Bin of each 8-bit value: Java ``(int)(g / 255f * bins + 0.5f)``."""
    g = np.arange(256, dtype=np.float32)
    return (g / np.float32(255.0) * np.float32(nbins) + np.float32(0.5)).astype(np.int64)


def _clahe_plane(plane, radius, nbins, slope, mask, fast, display_range):
    kind = plane.dtype
    if kind == np.uint8:
        src = plane
    elif kind == np.uint16:
        lo, hi = _range_16bit(plane, display_range)
        src = _view_16bit(plane, lo, hi)
    else:
        lo, hi = _range_32bit(plane, display_range)
        src = _view_32bit(plane, lo, hi)
    idx = _bin_lut(nbins)[src]
    use_mask = mask is not None
    mask_arr = mask if use_mask else np.zeros((1, 1), np.uint8)
    if fast:
        cs = _block_centres(plane.shape[1], radius)
        rs = _block_centres(plane.shape[0], radius)
        dst = _fast_flat(idx, radius, nbins, slope, cs, rs)
    else:
        dst = _flat(idx, radius, nbins, slope, mask_arr, use_mask)
    if kind == np.uint8:
        return _apply_8bit(src, dst, mask_arr, use_mask)
    if kind == np.uint16:
        return _apply_16bit(plane, src, dst, lo, mask_arr, use_mask)
    return _apply_32bit(plane, src, dst, np.float32(lo), mask_arr, use_mask)


def clahe(
    image,
    block_size: int = 127,
    bins: int = 256,
    max_slope: float = 3.0,
    *,
    mask=None,
    fast: bool = False,
    display_range=None,
) -> np.ndarray:
    """Contrast Limited Adaptive Histogram Equalization, as Fiji computes it.

    Reproduces Fiji's *Process > Enhance Local Contrast (CLAHE)* (the mpicbg
    plugin) with the same parameter meanings as its dialog.  On 8-bit, 16-bit
    and 32-bit test images (real microscopy data, stacks, masks, non-default
    parameters, both the exact and the fast version) the result is identical
    to Fiji's, pixel for pixel; see ``tests/test_clahe_fiji.py``.  The module
    docstring describes the algorithm and how the 8-bit result is transferred
    back to 16-bit and 32-bit images.

    Parameters
    ----------
    image : ndarray
        ``uint8``, ``uint16`` or ``float32`` image of shape ``(Y, X)``, or a
        stack ``(..., Y, X)`` whose planes are processed one after the other,
        each as its own 2D image (Fiji's command only processes the current
        slice; this matches running it on every slice, with the display range
        of each slice as given by `display_range`).  ``float64`` is processed
        as float32 (as ImageJ would store it) and returned as float64.  RGB
        images are not supported.
    block_size : int, optional
        Fiji's "blocksize": side of the square window, which has radius
        ``(block_size - 1) // 2`` (so an even size acts like the odd size
        below it).  Default 127.
    bins : int, optional
        Fiji's "histogram bins" (at least 2).  Default 256, which gives every
        8-bit grey level its own bin.
    max_slope : float, optional
        Fiji's "maximum slope" (clip limit relative to a flat histogram; 1
        leaves the image almost unchanged, larger values give more contrast).
        Must be >= 0.  Default 3.0.
    mask : ndarray of uint8 or bool, optional
        Fiji's "mask": a ``(Y, X)`` image (or one of the same shape as
        `image`) of weights 0..255 (``True`` counts as 255).  Where it is 0 the
        image is left unchanged, where it is 255 the full CLAHE is applied, in
        between the slope and the result are blended.  Ignored by the fast
        version for the clip limit, as in Fiji, but still used for blending.
    fast : bool, optional
        Fiji's "fast (less accurate)": compute the mapping only for a grid of
        blocks and interpolate bilinearly between them (``FastFlat``) instead
        of the exact sliding window (``Flat``, the default).  Requires each
        plane to be at least one block large in both dimensions (Fiji crashes
        otherwise).
    display_range : (float, float), optional
        Display range ``(min, max)`` that Fiji would use for the 8-bit working
        view of a 16-bit or 32-bit image ("Image > Adjust > Brightness &
        Contrast").  Default: the plane's own minimum and maximum, i.e. what
        Fiji shows after opening the image or pressing "Reset".  ``(0, 0)``
        also means reset, as in ImageJ.  For 16-bit the values are clamped to
        0..65535 and truncated to integers, for 32-bit rounded to float32, as
        ImageJ stores them.  Ignored for 8-bit images (Fiji ignores it too).

    Returns
    -------
    ndarray
        A new array of the same shape and dtype as `image`; `image` is not
        modified.

    Raises
    ------
    TypeError
        For unsupported dtypes or mask dtypes.
    ValueError
        For invalid parameters, a mask of the wrong shape, an image that is not
        at least 2D, a display range with ``min > max``, or ``fast=True`` on a
        plane smaller than one block.

    Notes
    -----
    The exact version costs ``O(block_size + bins)`` operations per pixel, like
    Fiji's: the window histogram is updated incrementally along each row and
    clipped for every pixel.  Numba compiles the kernels on first use (cached
    on disk afterwards).

    For 16-bit and 32-bit images the 8-bit gain ``new8 / old8`` multiplies the
    distance of each pixel from the display minimum, so the output keeps the
    input's dynamic range and is not limited to 256 levels; pixels whose 8-bit
    view is 0 (at or below the display minimum) stay unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> img = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    >>> out = clahe(img, block_size=31)
    >>> out.shape, out.dtype
    ((64, 64), dtype('uint8'))
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise InputError(f"clahe needs a 2D image or a stack of them, got shape {arr.shape}")
    back_to = None
    if arr.dtype == np.float64:
        back_to = np.float64
        arr = arr.astype(np.float32)
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise TypeError(
            f"clahe supports uint8, uint16, float32 (and float64) images like "
            f"ImageJ's 8/16/32-bit types, got {arr.dtype}"
        )
    block_size = int(block_size)
    bins = int(bins)
    if block_size < 1:
        raise OptionError(f"block_size must be >= 1, got {block_size}")
    if bins < 2:
        raise OptionError(f"bins must be >= 2, got {bins}")
    slope = float(max_slope)
    if not np.isfinite(slope) or slope < 0:
        raise OptionError(f"max_slope must be a finite number >= 0, got {max_slope}")
    if display_range is not None:
        if len(display_range) != 2:
            raise OptionError("display_range must be a pair (min, max)")
        if float(display_range[0]) > float(display_range[1]):
            raise OptionError(f"display_range must have min <= max, got {display_range}")
    radius = (block_size - 1) // 2
    nbins = bins - 1

    shape = arr.shape
    planes = arr.reshape((-1,) + shape[-2:])
    if fast and (shape[-1] < 2 * radius + 1 or shape[-2] < 2 * radius + 1):
        raise InputError(
            f"fast CLAHE needs planes of at least block size {2 * radius + 1} in both "
            f"dimensions (Fiji fails there too), got {shape[-2:]}; use fast=False"
        )

    masks = None
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype == np.bool_:
            m = m.astype(np.uint8) * np.uint8(255)
        elif m.dtype != np.uint8:
            raise TypeError(f"mask must be uint8 (weights 0..255) or bool, got {m.dtype}")
        if m.shape == shape[-2:]:
            masks = [np.ascontiguousarray(m)] * planes.shape[0]
        elif m.shape == shape:
            masks = list(np.ascontiguousarray(m.reshape(planes.shape)))
        else:
            raise InputError(f"mask shape {m.shape} matches neither {shape[-2:]} nor {shape}")

    out = np.empty(planes.shape, planes.dtype)
    f_slope = np.float32(slope)
    for k in range(planes.shape[0]):
        plane = np.ascontiguousarray(planes[k])
        out[k] = _clahe_plane(
            plane,
            radius,
            nbins,
            f_slope,
            None if masks is None else masks[k],
            bool(fast),
            display_range,
        )
    out = out.reshape(shape)
    if back_to is not None:
        out = out.astype(back_to)
    return out
