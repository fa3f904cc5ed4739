"""ImageJ's automatic threshold methods, giving the threshold ImageJ gives.

Image > Adjust > Threshold in Fiji offers the methods of ``ij.process.AutoThresholder``
(G. Landini's Auto_Threshold). This module implements each of them on a 256-bin
histogram, plus the steps around them that decide the final limits: how
``ImageProcessor.setAutoThreshold("Otsu dark")`` bins 16-bit and 32-bit images, and how
it turns the bin back into pixel values.

Two generations of ImageJ are followed exactly, picked with ``imagej=``: ``"1.54"``
(default; ImageJ 1.54p, the ImageJ of current Fiji) and ``"1.53"`` (Debian's 1.53t).
ImageJ 1.54a27-1.54g27 (imagej/ImageJ commits a13b2646, a1805337, 8299e77b) changed:

* a histogram with one or two non-empty bins ("bilevel") is thresholded just below its
  top level, before any method runs;
* Otsu became M. E. Celebi's formulation (cumulative normalised histogram; the first of
  tied maxima instead of the last);
* Intermodes no longer trims the histogram to its non-empty range; Minimum only looks
  for its valley below the last non-empty bin; Mean divides integer sums;
* Huang, IsoData and Li sum in Java ``int`` (overflowing on very large images) and
  IsoData divides both class sums as integers;
* the 16-bit "stack histogram" bins are ``(max - min + 1) / 256`` wide.

The rest of this docstring describes what both generations share.

How ImageJ does it (v1.53t and v1.54p, ``ImageProcessor.setAutoThreshold`` and
``TypeConverter``):

* **8-bit**: the histogram is the 256 grey levels.
* **16-bit**: the display range is reset to the image's min..max, and each pixel
  goes to bin ``int((v - min) * 256 / (max - min + 1) + 0.5)`` (at most 255).
* **32-bit**: min..max ignore NaN; bin ``int((v - min) * 255 / (max - min) + 0.5)``
  (at most 255); NaN pixels land in bin 0.
* The method returns a bin ``t``. **Dark background** (objects brighter than the
  background) selects bins ``t+1 .. 255``; otherwise ``0 .. t``. Both sides use
  the same ``t``, so the two selections never share a bin (the "off by one").
* Bins go back to pixel values as ``min + bin / 255 * (max - min)``. The open
  end is the type's full range: ``0``/``65535`` for 16-bit (limits rounded to
  integers), ``-1e30``/``1e30`` for 32-bit; 8-bit limits are the bins themselves.
  A constant image gives ``lower = upper = min``.

The histogram arithmetic repeats the Java code's order of operations (sequential
sums, ``int`` truncation and overflow, ``Math.round``), and logarithms use the C
library's ``log`` as Java's ``Math.log`` does, because ties between neighbouring
bins are common on real images and any other order can pick the other bin.

Inverting LUTs are not modelled: every image is taken as ImageJ shows a freshly
opened greyscale image (black = low values).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, OptionError
from .java_numbers import INT_MAX, INT_MIN, d2i, d2i_array, int_div, math_round, wrap_int32

__all__ = [
    "THRESHOLD_METHODS",
    "canonical_method",
    "threshold_histogram",
    "imagej_histogram",
    "auto_threshold",
    "threshold_mask",
    "mask_from_limits",
]

THRESHOLD_METHODS = (
    "Default",
    "Huang",
    "Intermodes",
    "IsoData",
    "IJ_IsoData",
    "Li",
    "MaxEntropy",
    "Mean",
    "MinError",
    "Minimum",
    "Moments",
    "Otsu",
    "Percentile",
    "RenyiEntropy",
    "Shanbhag",
    "Triangle",
    "Yen",
)
"""Method names as ImageJ 1.53t and 1.54p spell them (``AutoThresholder.Method``).
``Default`` is ImageJ's modified IsoData of the Threshold dialog; ``IJ_IsoData``
the original ImageJ IsoData without the mode correction. (``Huang2`` is a static
method of 1.54's ``AutoThresholder``, not one of its methods.)"""

_BY_LOWER = {name.lower(): name for name in THRESHOLD_METHODS}

_DOUBLE_MAX = float(np.finfo(np.float64).max)  # Double.MAX_VALUE
_DOUBLE_MIN_VALUE = 5e-324  # Double.MIN_VALUE, the smallest positive double
_DOUBLE_EPSILON = 2.220446049250313e-16  # the constant in the Java sources
_MAX_SMOOTHING_ITERATIONS = 10000  # Intermodes / Minimum give up after this
_MAX_REFINEMENTS = 10000  # Li / MinError: Java would loop forever; we stop here


def _log(values) -> np.ndarray:
    """Natural log with the C library's rounding, which is what ``Math.log`` gives.

    NumPy's vectorised log may differ in the last bit, and a last-bit difference
    is enough to flip a tie between two thresholds.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    positive = values > 0
    flat = values[positive]
    out[positive] = np.fromiter(map(math.log, flat.tolist()), dtype=np.float64, count=flat.size)
    out[values == 0] = -np.inf
    return out


def _times_log(weights, args) -> np.ndarray:
    """``weights * log(args)`` as Java computes it, taking logs only where needed.

    A zero weight gives 0 unless the log is infinite or NaN (then Java's
    ``0 * log`` is NaN, which must survive into the sums).
    """
    weights, args = np.broadcast_arrays(np.asarray(weights, np.float64), np.asarray(args, np.float64))
    out = np.zeros(weights.shape)
    needed = weights != 0
    out[needed] = weights[needed] * _log(args[needed])
    finite_log = (args > 0) & (args < np.inf)
    out[~needed & ~finite_log] = np.nan
    return out


def _sequential_row_sums(terms: np.ndarray) -> np.ndarray:
    """Sum each row left to right, as a Java ``for`` loop does (``np.sum`` is pairwise)."""
    if terms.shape[-1] == 0:
        return np.zeros(terms.shape[:-1])
    return np.cumsum(terms, axis=-1)[..., -1]


def _first_min_below(values, bound: float) -> int:
    """Index found by ``if (v < best) {best = v; i = k}`` from ``best = bound``; -1 if none."""
    values = np.asarray(values, dtype=np.float64)
    ok = values < bound
    if not ok.any():
        return -1
    return int(np.argmin(np.where(ok, values, np.inf)))


def _first_max_above(values, bound: float) -> int:
    """Index found by ``if (v > best) {best = v; i = k}`` from ``best = bound``; -1 if none."""
    values = np.asarray(values, dtype=np.float64)
    ok = values > bound
    if not ok.any():
        return -1
    return int(np.argmax(np.where(ok, values, -np.inf)))


# --------------------------------------------------------------------------
# The methods, on a 256-bin histogram (ij.process.AutoThresholder, v1.53t; the
# 1.54p variants follow below and reuse these where the arithmetic is unchanged)
# --------------------------------------------------------------------------


def _check_histogram(histogram) -> np.ndarray:
    data = np.asarray(histogram)
    if data.shape != (256,):
        raise ValueError(f"ImageJ's threshold methods need a 256-bin histogram, got shape {data.shape}")
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise ValueError("histogram counts must be whole numbers")
    elif data.dtype.kind not in "iub":
        raise ValueError(f"histogram counts must be integers, not {data.dtype}")
    data = data.astype(np.int64)
    if np.any(data < 0) or np.any(data > INT_MAX):
        raise ValueError("histogram counts must be between 0 and 2**31 - 1 (ImageJ stores them as int)")
    return data


def _cumulative_normalised(data: np.ndarray, int_total: bool = False):
    """``norm_histo``, ``P1``, ``P2`` and the first/last bins used by the entropy methods
    (``int_total``: ImageJ 1.54 counts the pixels in a Java ``int``)."""
    total = float(wrap_int32(data.sum())) if int_total else float(data.sum())
    norm = data / total
    p1 = np.cumsum(norm)
    p2 = 1.0 - p1
    first = np.flatnonzero(~(np.abs(p1) < _DOUBLE_EPSILON))
    first_bin = int(first[0]) if first.size else 0
    last = np.flatnonzero(~(np.abs(p2[first_bin:]) < _DOUBLE_EPSILON))
    last_bin = int(last[-1]) + first_bin if last.size else 255
    return norm, p1, p2, first_bin, last_bin


def _below_and_above(first_bin: int, last_bin: int):
    """Row index ``it`` (candidate thresholds) and masks ``ih <= it`` / ``ih > it``."""
    it = np.arange(first_bin, last_bin + 1)[:, None]
    ih = np.arange(256)[None, :]
    return it, ih, ih <= it, ih > it


def huang_fuzzy_threshold(histogram, int_sums: bool = False) -> int:
    """Huang & Wang (1995): minimise the fuzziness (Shannon entropy of memberships).

    ``int_sums``: ImageJ 1.54 sums levels and counts in Java ``int``."""
    data = _check_histogram(histogram)
    nonzero = np.flatnonzero(data)
    first_bin = int(nonzero[0]) if nonzero.size else 0
    last_bin = int(nonzero[-1]) if nonzero.size else 255
    levels = np.arange(256, dtype=np.float64)
    weighted = levels * data
    if int_sums:
        weighted = wrap_int32(np.arange(256, dtype=np.int64) * data)

    def running(values):  # sequential sums, in int (wrapping) for ImageJ 1.54
        if int_sums:
            return wrap_int32(np.cumsum(values)).astype(np.float64)
        return np.cumsum(values.astype(np.float64) if values.dtype.kind != "f" else values)

    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.float64(1.0) / np.float64(last_bin - first_bin)
        mean_below = np.zeros(256)
        mean_below[first_bin:] = running(weighted[first_bin:]) / running(data[first_bin:])
        mean_above = np.zeros(256)
        if last_bin > 0:
            # mean_above[j]: mean level of bins j+1 .. last_bin
            tail_sum = running(weighted[last_bin:0:-1])[::-1]
            tail_count = running(data[last_bin:0:-1])[::-1]
            mean_above[:last_bin] = tail_sum / tail_count
        it = np.arange(256)[:, None]
        ih = np.arange(256)[None, :]
        mean = np.where(ih <= it, mean_below[:, None], mean_above[:, None])
        membership = 1.0 / (1.0 + term * np.abs(ih - mean))
        counted = ~((membership < 1e-06) | (membership > 0.999999))  # NaN counts, as in Java
        # Java adds data[ih] * (-mu*log(mu) - (1-mu)*log(1-mu)); an empty bin adds 0
        # unless the membership is NaN (then the sum becomes NaN)
        entropy = np.zeros(membership.shape)
        used = counted & (data[None, :] != 0)
        mu = membership[used]
        weights = np.broadcast_to(data[None, :], used.shape)[used].astype(np.float64)
        entropy[used] = weights * ((-mu) * _log(mu) - (1.0 - mu) * _log(1.0 - mu))
        entropy[np.isnan(membership)] = np.nan
    return _first_min_below(_sequential_row_sums(entropy), _DOUBLE_MAX)


def _bimodal(values: np.ndarray) -> bool:
    """Exactly two strict local maxima (``AutoThresholder.bimodalTest``)."""
    peaks = (values[:-2] < values[1:-1]) & (values[2:] < values[1:-1])
    return int(np.count_nonzero(peaks)) == 2


def _smooth3(values: np.ndarray) -> np.ndarray:
    """Running mean of 3 with zeros outside, summed left to right as in Java."""
    padded = np.concatenate(([0.0], values, [0.0]))
    return (padded[:-2] + padded[1:-1] + padded[2:]) / 3


def _smooth_until_bimodal(values: np.ndarray):
    iterations = 0
    while not _bimodal(values):
        values = _smooth3(values)
        iterations += 1
        if iterations > _MAX_SMOOTHING_ITERATIONS:
            return None
    return values


def intermodes_threshold(histogram) -> int:
    """Prewitt & Mendelsohn (1966): smooth to two peaks, take their midpoint."""
    data = _check_histogram(histogram)
    nonzero = np.flatnonzero(data)
    if not nonzero.size:
        return -1
    minbin, maxbin = int(nonzero[0]), int(nonzero[-1])
    smoothed = _smooth_until_bimodal(data[minbin : maxbin + 1].astype(np.float64))
    if smoothed is None:
        return -1
    peaks = np.flatnonzero((smoothed[:-2] < smoothed[1:-1]) & (smoothed[2:] < smoothed[1:-1])) + 1
    return int(math.floor(int(peaks.sum()) / 2.0)) + minbin


def isodata_threshold(histogram) -> int:
    """Ridler & Calvard (1978) IsoData / intermeans, as in Landini's plugin.

    The Java code sums the lower class in ``int`` (overflow included) and divides
    it with integer division; that is repeated here.
    """
    data = _check_histogram(histogram)
    nonzero = np.flatnonzero(data[1:])
    start = int(nonzero[0]) + 2 if nonzero.size else 0
    if start > 254:
        return -1
    levels = np.arange(256, dtype=np.int64)
    # candidate g: lower class i < g, upper class i > g
    g = np.arange(start, 255)
    lower_sum_exclusive = np.concatenate(([0], np.cumsum(data * levels)))  # [k] = sum over i < k
    lower_count_exclusive = np.concatenate(([0], np.cumsum(data)))
    lower_sum = wrap_int32(lower_sum_exclusive[g])
    lower_count = wrap_int32(lower_count_exclusive[g])
    upper_count = data.sum() - lower_count_exclusive[g + 1]
    upper_sum = (data * levels).sum() - lower_sum_exclusive[g + 1]
    for k, candidate in enumerate(g.tolist()):
        totl, toth = int(lower_count[k]), int(upper_count[k])
        if totl > 0 and toth > 0:
            low = int(lower_sum[k])
            low = abs(low) // totl * (1 if low >= 0 else -1)  # Java int division
            high = float(upper_sum[k]) / float(toth)
            if candidate == math_round((low + high) / 2.0):
                return candidate
    return -1


def ij_isodata_threshold(histogram) -> int:
    """ImageJ's original IsoData (``ImageProcessor.getAutoThreshold``); ignores bins 0 and 255."""
    data = _check_histogram(histogram).copy()
    data[0] = 0
    data[255] = 0
    nonzero = np.flatnonzero(data)
    if nonzero.size < 2:
        return 128  # Java: min >= max -> histogram.length / 2
    low, high = int(nonzero[0]), int(nonzero[-1])
    levels = np.arange(256, dtype=np.float64)
    weighted_cum = np.cumsum(levels * data)
    count_cum = np.cumsum(data.astype(np.float64))
    moving = np.arange(low, max(low + 1, high - 1))
    below_mean = (weighted_cum[moving] - (weighted_cum[low - 1] if low else 0.0)) / (
        count_cum[moving] - (count_cum[low - 1] if low else 0.0)
    )
    above_mean = (weighted_cum[high] - weighted_cum[moving]) / (count_cum[high] - count_cum[moving])
    result = (below_mean + above_mean) / 2.0
    carry_on = (moving + 2 <= result) & (moving + 1 < high - 1)
    stop = int(np.argmin(carry_on))  # the first False exists: the last candidate always stops
    return math_round(result[stop])


def default_isodata_threshold(histogram) -> int:
    """ImageJ's "Default": IJ_IsoData after capping an outstanding mode.

    If the most frequent bin is more than twice as frequent as the next one, it
    is lowered to 1.5 times the next one first, so a large uniform background
    does not drag the threshold.
    """
    data = _check_histogram(histogram).copy()
    mode = int(np.argmax(data)) if data.max() > 0 else 0
    max_count = int(data[mode])
    second = int(np.delete(data, mode).max())
    if max_count > int(wrap_int32(second * 2)) and second != 0:
        data[mode] = d2i(second * 1.5)
    return ij_isodata_threshold(data)


def li_threshold(histogram) -> int:
    """Li & Tam (1998): iterative minimum cross entropy."""
    data = _check_histogram(histogram)
    levels = np.arange(256, dtype=np.float64)
    weighted_cum = np.cumsum(levels * data)
    count_cum = np.cumsum(data.astype(np.float64))
    total_weighted, num_pixels = float(weighted_cum[-1]), float(count_cum[-1])
    new_thresh = total_weighted / num_pixels  # the mean (bin 0 adds nothing)
    for _ in range(_MAX_REFINEMENTS):
        old_thresh = new_thresh
        threshold = d2i(old_thresh + 0.5)
        if threshold < 0:
            back_sum = back_num = 0.0
        else:
            t = min(threshold, 255)
            back_sum, back_num = float(weighted_cum[t]), float(count_cum[t])
        obj_sum, obj_num = total_weighted - back_sum, num_pixels - back_num
        mean_back = 0.0 if back_num == 0 else back_sum / back_num
        mean_obj = 0.0 if obj_num == 0 else obj_sum / obj_num
        with np.errstate(divide="ignore", invalid="ignore"):
            temp = float(
                (np.float64(mean_back) - mean_obj) / (_log([mean_back])[0] - _log([mean_obj])[0])
            )
        new_thresh = float(d2i(temp - 0.5) if temp < -_DOUBLE_EPSILON else d2i(temp + 0.5))
        if not abs(new_thresh - old_thresh) > 0.5:
            break
    return threshold


def max_entropy_threshold(histogram, int_total: bool = False) -> int:
    """Kapur, Sahoo & Wong (1985): maximise the summed entropies of both classes."""
    data = _check_histogram(histogram)
    norm, p1, p2, first_bin, last_bin = _cumulative_normalised(data, int_total)
    return _kapur_entropy_choice(data, norm, p1, p2, first_bin, last_bin, -1, _DOUBLE_MIN_VALUE)


def _kapur_entropy_choice(data, norm, p1, p2, first_bin, last_bin, start_index, start_best) -> int:
    it, ih, below, above = _below_and_above(first_bin, last_bin)
    present = data[None, :] != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_back = norm[None, :] / p1[it]
        ratio_obj = norm[None, :] / p2[it]
    use_back = below & present
    use_obj = above & present
    terms_back = np.zeros(use_back.shape)
    terms_back[use_back] = -(ratio_back[use_back] * _log(ratio_back[use_back]))
    terms_obj = np.zeros(use_obj.shape)
    terms_obj[use_obj] = -(ratio_obj[use_obj] * _log(ratio_obj[use_obj]))
    total = _sequential_row_sums(terms_back) + _sequential_row_sums(terms_obj)
    best = _first_max_above(total, start_best)
    return start_index if best < 0 else best + first_bin


def mean_threshold(histogram) -> int:
    """Glasbey (1993): the mean grey level."""
    data = _check_histogram(histogram)
    total = float(data.sum())
    weighted = float((np.arange(256) * data).sum())
    if total == 0:
        return 0  # Java: (int) Math.floor(NaN)
    return d2i(math.floor(weighted / total))


def min_error_threshold(histogram, initial: int | None = None) -> int:
    """Kittler & Illingworth (1986) minimum error, iterative version.

    The Java code accumulates ``i*y[i]`` and ``i*i*y[i]`` as ``int`` products,
    which overflow on large images; the same overflow is reproduced.
    """
    data = _check_histogram(histogram)
    levels = np.arange(256, dtype=np.int64)
    count_cum = np.cumsum(data.astype(np.float64))
    first_cum = np.cumsum(wrap_int32(levels * data).astype(np.float64))
    second_cum = np.cumsum(wrap_int32(levels * levels * data).astype(np.float64))

    def upto(cum, j):
        if j < 0:
            return np.float64(0.0)
        return np.float64(cum[min(j, 255)])

    threshold = mean_threshold(data) if initial is None else initial
    previous = -2
    n_total, s1_total, s2_total = upto(count_cum, 255), upto(first_cum, 255), upto(second_cum, 255)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(_MAX_REFINEMENTS):
            if threshold == previous:
                break
            a, b, c = upto(count_cum, threshold), upto(first_cum, threshold), upto(second_cum, threshold)
            mu = b / a
            nu = (s1_total - b) / (n_total - a)
            p = a / n_total
            q = (n_total - a) / n_total
            sigma2 = c / a - (mu * mu)
            tau2 = (s2_total - c) / (n_total - a) - (nu * nu)
            w0 = 1.0 / sigma2 - 1.0 / tau2
            w1 = mu / sigma2 - nu / tau2
            w2 = (mu * mu) / sigma2 - (nu * nu) / tau2 + np.log10((sigma2 * (q * q)) / (tau2 * (p * p)))
            sqterm = (w1 * w1) - w0 * w2
            if sqterm < 0:
                return threshold  # ImageJ logs "MinError(I): not converging."
            previous = threshold
            temp = (w1 + np.sqrt(sqterm)) / w0
            threshold = previous if np.isnan(temp) else d2i(math.floor(temp) if np.isfinite(temp) else temp)
    return threshold


def minimum_threshold(histogram) -> int:
    """Prewitt & Mendelsohn (1966): smooth to two peaks, take the valley between."""
    data = _check_histogram(histogram)
    smoothed = _smooth_until_bimodal(data.astype(np.float64))
    if smoothed is None:
        return -1
    valleys = np.flatnonzero((smoothed[:-2] > smoothed[1:-1]) & (smoothed[2:] >= smoothed[1:-1]))
    return int(valleys[0]) + 1 if valleys.size else -1


def moments_threshold(histogram) -> int:
    """Tsai (1985): preserve the first three moments."""
    data = _check_histogram(histogram)
    total = float(data.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        histo = data / total
        levels = np.arange(256, dtype=np.float64)
        m0 = np.float64(1.0)
        m1 = np.cumsum(levels * histo)[-1]
        m2 = np.cumsum(levels * levels * histo)[-1]
        m3 = np.cumsum(levels * levels * levels * histo)[-1]
        cd = m0 * m2 - m1 * m1
        c0 = ((-m2) * m2 + m1 * m3) / cd
        c1 = (m0 * -m3 + m2 * m1) / cd
        root = np.sqrt(c1 * c1 - 4.0 * c0)
        z0 = 0.5 * (-c1 - root)
        z1 = 0.5 * (-c1 + root)
        p0 = (z1 - m1) / (z1 - z0)  # fraction of object pixels
    above = np.flatnonzero(np.cumsum(histo) > p0)
    return int(above[0]) if above.size else -1


def otsu_threshold(histogram) -> int:
    """Otsu (1979): maximise the between-class variance (last bin of a tie)."""
    data = _check_histogram(histogram).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    total_intensity = float((levels * data).sum())
    n = float(data.sum())
    k = np.arange(1, 255)
    sk = np.cumsum(levels * data)[k]
    n1 = np.cumsum(data)[k]
    denom = n1 * (n - n1)
    with np.errstate(divide="ignore", invalid="ignore"):
        num = (n1 / n) * total_intensity - sk
        bcv = np.where(denom != 0, (num * num) / denom, 0.0)
    ok = bcv >= 0
    if not ok.any():
        return 0
    best = np.where(ok, bcv, -np.inf)
    return int(k[np.flatnonzero(best == best.max())[-1]])


def percentile_threshold(histogram) -> int:
    """Doyle (1962): the bin that puts half the pixels on each side."""
    data = _check_histogram(histogram)
    partial = np.cumsum(data.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.abs(partial / partial[-1] - 0.5)
    return _first_min_below(distance, 1.0)


def renyi_entropy_threshold(histogram, int_total: bool = False) -> int:
    """Kapur, Sahoo & Wong with Renyi entropies of order 0.5, 1 and 2, combined."""
    data = _check_histogram(histogram)
    norm, p1, p2, first_bin, last_bin = _cumulative_normalised(data, int_total)
    t_star2 = _kapur_entropy_choice(data, norm, p1, p2, first_bin, last_bin, 0, 0.0)
    it, ih, below, above = _below_and_above(first_bin, last_bin)

    def renyi_choice(terms_back, terms_obj, term):
        back = _sequential_row_sums(np.where(below, terms_back, 0.0))
        obj = _sequential_row_sums(np.where(above, terms_obj, 0.0))
        product = back * obj
        with np.errstate(invalid="ignore"):
            positive = product > 0.0
        logs = np.zeros(product.shape)
        logs[positive] = _log(product[positive])
        best = _first_max_above(term * logs, 0.0)
        return 0 if best < 0 else best + first_bin

    with np.errstate(divide="ignore", invalid="ignore"):
        t_star1 = renyi_choice(np.sqrt(norm[None, :] / p1[it]), np.sqrt(norm[None, :] / p2[it]), 1.0 / (1.0 - 0.5))
        t_star3 = renyi_choice(
            (norm[None, :] * norm[None, :]) / (p1[it] * p1[it]),
            (norm[None, :] * norm[None, :]) / (p2[it] * p2[it]),
            1.0 / (1.0 - 2.0),
        )
    t_star1, t_star2, t_star3 = sorted((t_star1, t_star2, t_star3))
    if abs(t_star1 - t_star2) <= 5:
        beta = (1, 2, 1) if abs(t_star2 - t_star3) <= 5 else (0, 1, 3)
    else:
        beta = (3, 1, 0) if abs(t_star2 - t_star3) <= 5 else (1, 2, 1)
    omega = p1[t_star3] - p1[t_star1]
    value = (
        t_star1 * (p1[t_star1] + 0.25 * omega * beta[0])
        + 0.25 * t_star2 * omega * beta[1]
        + t_star3 * (p2[t_star3] + 0.25 * omega * beta[2])
    )
    return d2i(value)


def shanbhag_threshold(histogram, int_total: bool = False) -> int:
    """Shanbhag (1994): information measure of fuzzy memberships."""
    data = _check_histogram(histogram)
    norm, p1, p2, first_bin, last_bin = _cumulative_normalised(data, int_total)
    it, ih, below, above = _below_and_above(first_bin, last_bin)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        term_back = 0.5 / p1[it]
        p1_previous = np.concatenate(([0.0], p1[:-1]))[None, :]
        back_args = 1.0 - term_back * p1_previous
        use_back = below & (ih >= 1)
        terms = np.zeros(use_back.shape)
        terms[use_back] = -_times_log(np.broadcast_to(norm[None, :], use_back.shape)[use_back], back_args[use_back])
        ent_back = _sequential_row_sums(terms) * term_back[:, 0]

        term_obj = 0.5 / p2[it]
        obj_args = 1.0 - term_obj * p2[None, :]
        terms = np.zeros(above.shape)
        terms[above] = -_times_log(np.broadcast_to(norm[None, :], above.shape)[above], obj_args[above])
        ent_obj = _sequential_row_sums(terms) * term_obj[:, 0]
        total = np.abs(ent_back - ent_obj)
    best = _first_min_below(total, _DOUBLE_MAX)
    return -1 if best < 0 else best + first_bin


def triangle_threshold(histogram) -> int:
    """Zack, Rogers & Latt (1977): furthest bin from the line peak -> histogram end.

    The line runs to the end of the longer tail; the result is one bin toward
    the peak from the split point, as in ImageJ.
    """
    data = _check_histogram(histogram)
    nonzero = np.flatnonzero(data)
    low = int(nonzero[0]) if nonzero.size else 0
    if low > 0:
        low -= 1
    upper_nonzero = np.flatnonzero(data[1:])
    high = int(upper_nonzero[-1]) + 1 if upper_nonzero.size else 0
    if high < 255:
        high += 1
    peak = int(np.argmax(data)) if data.max() > 0 else 0
    inverted = (peak - low) < (high - peak)
    if inverted:
        data = data[::-1]
        low, peak = 255 - high, 255 - peak
    if low == peak:
        return low
    nx = float(data[peak])
    ny = float(low - peak)
    d = math.sqrt(nx * nx + ny * ny)
    nx /= d
    ny /= d
    d = nx * low + ny * float(data[low])
    candidates = np.arange(low + 1, peak + 1)
    distance = (nx * candidates + ny * data[candidates].astype(np.float64)) - d
    best = _first_max_above(distance, 0.0)
    split = (low if best < 0 else int(candidates[best])) - 1
    return 255 - split if inverted else split


def yen_threshold(histogram) -> int:
    """Yen, Chang & Chang (1995): maximum correlation criterion."""
    data = _check_histogram(histogram)
    total = float(data.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = data / total
    p1 = np.cumsum(norm)
    squares = norm * norm
    p1_sq = np.cumsum(squares)
    p2_sq = np.append(np.cumsum(squares[:0:-1])[::-1], 0.0)
    with np.errstate(invalid="ignore"):
        product = p1_sq * p2_sq
        spread = p1 * (1.0 - p1)
        log_product = np.zeros(256)
        log_product[product > 0.0] = _log(product[product > 0.0])
        log_spread = np.zeros(256)
        log_spread[spread > 0.0] = _log(spread[spread > 0.0])
    crit = -1.0 * log_product + 2 * log_spread
    return _first_max_above(crit, _DOUBLE_MIN_VALUE)


# --------------------------------------------------------------------------
# ImageJ 1.54 (AutoThresholder at tag v1.54p) where it differs from 1.53t
# --------------------------------------------------------------------------


def _bilevel_154(data: np.ndarray) -> int:
    """``AutoThresholder.bilevel``: one or two non-empty bins -> the top one minus 1; else -1."""
    nonzero = np.flatnonzero(data)
    if nonzero.size == 1:
        return int(nonzero[0]) - 1
    if nonzero.size == 2:
        return int(nonzero[1]) - 1
    return -1


def _otsu_154(data: np.ndarray) -> int:
    """Otsu as M. E. Celebi's Fourier library computes it (ImageJ 1.54)."""
    num_pixels = float(wrap_int32(data.sum()))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        term = 1.0 / num_pixels
        histo = term * data.astype(np.float64)
        cnh = np.cumsum(histo)
        weighted = np.arange(256, dtype=np.float64) * histo
        weighted[0] = 0.0  # mean[0] = 0.0 in the Java code
        mean = np.cumsum(weighted)
        bcv = mean[-1] * cnh - mean
        bcv = bcv * (bcv / (cnh * (1.0 - cnh)))
    best = _first_max_above(bcv, 0.0)
    return INT_MIN if best < 0 else best  # Java starts from Integer.MIN_VALUE


def _intermodes_154(data: np.ndarray) -> int:
    """Intermodes on the whole 256-bin histogram (ImageJ 1.54 no longer trims it)."""
    smoothed = _smooth_until_bimodal(data.astype(np.float64))
    if smoothed is None:
        return -1
    peaks = np.flatnonzero((smoothed[:-2] < smoothed[1:-1]) & (smoothed[2:] < smoothed[1:-1])) + 1
    return int(math.floor(int(peaks.sum()) / 2.0))


def _isodata_154(data: np.ndarray) -> int:
    """IsoData with both class sums in Java ``int`` and integer means (ImageJ 1.54)."""
    nonzero = np.flatnonzero(data[1:])
    g = int(nonzero[0]) + 2 if nonzero.size else 0
    products = wrap_int32(np.arange(256, dtype=np.int64) * data)
    while True:
        totl = int(wrap_int32(data[:g].sum()))
        low = int(wrap_int32(products[:g].sum()))
        toth = int(wrap_int32(data[g + 1:].sum()))
        high = int(wrap_int32(products[g + 1:].sum()))
        if totl > 0 and toth > 0:
            low = int_div(low, totl)
            high = int_div(high, toth)
            if g == math_round((low + high) / 2.0):
                return g
        g += 1
        if g > 254:
            return -1  # ImageJ logs "IsoData Threshold not found."


def _li_154(data: np.ndarray) -> int:
    """Li & Tam with Java ``int`` sums (ImageJ 1.54)."""
    products = wrap_int32(np.arange(256, dtype=np.int64) * data)
    num_pixels = int(wrap_int32(data.sum()))
    product_cum = np.cumsum(products)
    count_cum = np.cumsum(data)
    with np.errstate(divide="ignore", invalid="ignore"):
        new_thresh = float(np.float64(np.cumsum(products.astype(np.float64))[-1]) / np.float64(num_pixels))
    threshold = 0
    for _ in range(_MAX_REFINEMENTS):
        old_thresh = new_thresh
        threshold = d2i(old_thresh + 0.5)
        t = min(threshold, 255)
        if t < 0:
            sum_back = num_back = 0
        else:
            sum_back, num_back = int(wrap_int32(product_cum[t])), int(wrap_int32(count_cum[t]))
        sum_obj = int(wrap_int32(product_cum[-1] - (product_cum[t] if t >= 0 else 0)))
        num_obj = int(wrap_int32(count_cum[-1] - (count_cum[t] if t >= 0 else 0)))
        mean_back = 0.0 if num_back == 0 else sum_back / float(num_back)
        mean_obj = 0.0 if num_obj == 0 else sum_obj / float(num_obj)
        with np.errstate(divide="ignore", invalid="ignore"):
            temp = float((np.float64(mean_back) - mean_obj) / (_log([mean_back])[0] - _log([mean_obj])[0]))
        new_thresh = float(d2i(temp - 0.5) if temp < -_DOUBLE_EPSILON else d2i(temp + 0.5))
        if not abs(new_thresh - old_thresh) > 0.5:
            break
    return threshold


def _mean_154(data: np.ndarray) -> int:
    """The mean grey level from ``long`` sums and ``long`` division (ImageJ 1.54)."""
    total = int(data.sum())
    weighted = int((np.arange(256, dtype=np.int64) * data).sum())
    return d2i(weighted // total) if total else 0


def _min_error_154(data: np.ndarray) -> int:
    """Kittler & Illingworth from the 1.54 mean (the iteration is unchanged)."""
    return min_error_threshold(data, initial=_mean_154(data))


def _minimum_154(data: np.ndarray) -> int:
    """Minimum with the valley searched below the last non-empty bin (ImageJ 1.54)."""
    nonzero = np.flatnonzero(data)
    last = int(nonzero[-1]) if nonzero.size else -1
    smoothed = _smooth_until_bimodal(data.astype(np.float64))
    if smoothed is None:
        return -1
    valleys = np.flatnonzero((smoothed[:-2] > smoothed[1:-1]) & (smoothed[2:] >= smoothed[1:-1])) + 1
    valleys = valleys[valleys < last]
    return int(valleys[0]) if valleys.size else -1


_METHODS = {
    "Default": default_isodata_threshold,
    "Huang": huang_fuzzy_threshold,
    "Intermodes": intermodes_threshold,
    "IsoData": isodata_threshold,
    "IJ_IsoData": ij_isodata_threshold,
    "Li": li_threshold,
    "MaxEntropy": max_entropy_threshold,
    "Mean": mean_threshold,
    "MinError": min_error_threshold,
    "Minimum": minimum_threshold,
    "Moments": moments_threshold,
    "Otsu": otsu_threshold,
    "Percentile": percentile_threshold,
    "RenyiEntropy": renyi_entropy_threshold,
    "Shanbhag": shanbhag_threshold,
    "Triangle": triangle_threshold,
    "Yen": yen_threshold,
}


_METHODS_154 = {
    **_METHODS,
    "Huang": lambda data: huang_fuzzy_threshold(data, int_sums=True),
    "Intermodes": _intermodes_154,
    "IsoData": _isodata_154,
    "Li": _li_154,
    "MaxEntropy": lambda data: max_entropy_threshold(data, int_total=True),
    "Mean": _mean_154,
    "MinError": _min_error_154,
    "Minimum": _minimum_154,
    "Otsu": _otsu_154,
    "RenyiEntropy": lambda data: renyi_entropy_threshold(data, int_total=True),
    "Shanbhag": lambda data: shanbhag_threshold(data, int_total=True),
}
IMAGEJ_GENERATIONS = ("1.54", "1.53")
"""``imagej=`` values: ImageJ 1.54p (current Fiji, the default) and ImageJ 1.53t."""


def _check_generation(imagej: str) -> str:
    if imagej not in IMAGEJ_GENERATIONS:
        raise OptionError(f"imagej must be one of {IMAGEJ_GENERATIONS} (ImageJ 1.54p or 1.53t), not {imagej!r}")
    return imagej


def canonical_method(method: str) -> str:
    """ImageJ's spelling of a threshold method name given in any case.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.
    """
    if not isinstance(method, str):
        raise OptionError(f"threshold method must be a name, not {method!r}; choose one of: {', '.join(THRESHOLD_METHODS)}")
    name = _BY_LOWER.get(method.strip().lower())
    if name is None:
        hint = ""
        if " " in method.strip():
            hint = " (give only the method name; dark background is a separate option)"
        raise OptionError(
            f"unknown threshold method {method!r}{hint}; choose one of: {', '.join(THRESHOLD_METHODS)}"
        )
    return name


def threshold_histogram(histogram, method: str, imagej: str = "1.54") -> int:
    """The bin ImageJ's ``AutoThresholder.getThreshold(method, histogram)`` returns.

    Parameters
    ----------
    histogram : array-like of 256 non-negative integers
    method : str
        One of :data:`THRESHOLD_METHODS`, in any case.
    imagej : {'1.54', '1.53'}
        Which ImageJ to follow: 1.54p (current Fiji) or 1.53t.

    Returns
    -------
    int
        Bin index 0..255. Pixels in bins ``0..t`` are the "light background"
        selection, ``t+1..255`` the "dark background" one. A method that finds
        nothing gives 0, as in ImageJ.

    Raises
    ------
    ValueError
        Unknown method, a histogram that is not 256 counts, or an empty one.
    """
    name = canonical_method(method)
    _check_generation(imagej)
    data = _check_histogram(histogram)
    if not data.any():
        raise ValueError("the histogram is empty (all counts are 0); there is nothing to threshold")
    if imagej == "1.54":
        threshold = _bilevel_154(data)
        if threshold >= 0:
            return threshold
        threshold = _METHODS_154[name](data)
    else:
        threshold = _METHODS[name](data)
    return 0 if threshold == -1 else int(threshold)


# --------------------------------------------------------------------------
# Images: ImageJ's 256-bin histogram and the limits in pixel values
# --------------------------------------------------------------------------


def _as_imagej_pixels(image) -> tuple[np.ndarray, float]:
    """The pixels as ImageJ holds them, and the offset that maps them back.

    uint8, uint16 and float32 are ImageJ's own types. int16 is held as ImageJ
    opens it (raw + 32768 in a 16-bit image, calibrated back for display).
    Booleans become 8-bit 0/255; other types become 32-bit float.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8 or image.dtype == np.uint16 or image.dtype == np.float32:
        return image, 0.0
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * np.uint8(255), 0.0
    if image.dtype == np.int16:
        return (image.astype(np.int32) + 32768).astype(np.uint16), -32768.0
    if image.dtype.kind in "iuf":
        return image.astype(np.float32), 0.0
    raise InputError(f"cannot threshold an image of type {image.dtype}; use 8-bit, 16-bit or 32-bit greyscale")


def _float_min_max(pixels: np.ndarray) -> tuple[float, float]:
    """``FloatProcessor.findMinAndMax``: NaN ignored, infinities kept; NaN if all NaN."""
    finite_or_inf = pixels[~np.isnan(pixels)]
    if finite_or_inf.size == 0:
        return math.nan, math.nan
    return float(finite_or_inf.min()), float(finite_or_inf.max())


def _plane_histogram(pixels: np.ndarray) -> tuple[np.ndarray, float, float]:
    """256-bin histogram of one plane as ``setAutoThreshold`` computes it, with min and max."""
    if pixels.dtype == np.uint8:
        return np.bincount(pixels.ravel(), minlength=256), 0.0, 255.0
    if pixels.dtype == np.uint16:
        counts = np.bincount(pixels.ravel(), minlength=65536)
        present = np.flatnonzero(counts)
        low, high = int(present[0]), int(present[-1])
        scale = 256.0 / (high - low + 1)
        bins = np.minimum(
            d2i_array(np.arange(high - low + 1, dtype=np.float64) * scale + 0.5), 255
        )
        histogram = np.bincount(bins, weights=counts[low : high + 1], minlength=256)
        return np.rint(histogram).astype(np.int64), float(low), float(high)
    low, high = _float_min_max(pixels)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = 255.0 / (np.float64(high) - low)
        shifted = pixels.astype(np.float64).ravel() - low
        shifted[shifted < 0.0] = 0.0
        bins = np.minimum(d2i_array(shifted * scale + 0.5), 255)
    return np.bincount(bins, minlength=256), low, high


def _stack_histogram(pixels: np.ndarray, imagej: str = "1.54") -> tuple[np.ndarray, float, float]:
    """256-bin histogram of all planes as ``IJ.setAutoThreshold(imp, "... stack")``."""
    if pixels.dtype == np.uint8:
        return np.bincount(pixels.ravel(), minlength=256), 0.0, 255.0
    if pixels.dtype == np.uint16:
        counts = np.bincount(pixels.ravel(), minlength=65536)
        present = np.flatnonzero(counts)
        low, high = int(present[0]), int(present[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            width = (high - low + 1) if imagej == "1.54" else (high - low)  # StackStatistics.binSize
            scale = 1.0 / np.float64(width / 256.0)
            bins = np.minimum(d2i_array(scale * np.arange(high - low + 1, dtype=np.float64)), 255)
        histogram = np.bincount(bins, weights=counts[low : high + 1], minlength=256)
        return np.rint(histogram).astype(np.int64), float(low), float(high)
    # StackStatistics: only values within +-Float.MAX_VALUE count (no NaN, no infinity)
    values = pixels.astype(np.float64).ravel()
    values = values[np.abs(values) <= float(np.finfo(np.float32).max)]
    if values.size == 0:
        return np.zeros(256, np.int64), math.nan, math.nan
    low, high = float(values.min()), float(values.max())
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 256.0 / np.float64(high - low)
        bins = np.minimum(d2i_array(scale * (values - low)), 255)
    return np.bincount(bins, minlength=256), low, high


def imagej_histogram(image, *, stack_histogram: bool = False, imagej: str = "1.54") -> tuple[np.ndarray, float, float]:
    """The 256-bin histogram ImageJ thresholds, with the min and max it spans.

    Parameters
    ----------
    image : ndarray
        2D plane, or a stack with ``stack_histogram=True``.
    stack_histogram : bool
        Pool all planes the way ``setAutoThreshold("... stack")`` (the Threshold
        dialog's "Stack histogram") does: for 16-bit, 256 bins of width
        ``(max - min + 1) / 256`` (ImageJ 1.53: ``(max - min) / 256``); for 32-bit, NaN
        and infinities left out.
    imagej : {'1.54', '1.53'}
        Which ImageJ to follow (see :func:`threshold_histogram`).

    Returns
    -------
    histogram : ndarray of int64, shape (256,)
    min, max : float
        Pixel values of bin 0 and bin 255's end, in ImageJ's raw values (int16
        images: +32768). 0 and 255 for 8-bit images.
    """
    pixels, _ = _as_imagej_pixels(image)
    if stack_histogram:
        return _stack_histogram(pixels, _check_generation(imagej))
    if pixels.ndim != 2:
        raise InputError(f"expected a 2D plane, got shape {pixels.shape}; pass stack_histogram=True to pool planes")
    return _plane_histogram(pixels)


def _bin_limits(threshold: int, dark_background: bool) -> tuple[float, float]:
    if dark_background:
        lower, upper = threshold + 1.0, 255.0
    else:
        lower, upper = 0.0, float(threshold)
    return min(lower, 255.0), upper


def _scale_limits(lower, upper, low, high, dtype, *, full_range: bool) -> tuple[float, float]:
    """Bin limits -> pixel values (``scaleAndSetThreshold`` / ``setStackThreshold``) and
    the processor's ``setThreshold`` (16-bit: clamped and rounded)."""
    if dtype == np.uint8 and full_range:
        return float(lower), float(upper)
    if high > low:
        span = high - low
        if full_range and lower == 0.0:
            lower = min(low, -1e30) if dtype == np.float32 else lower
        else:
            lower = low + (lower / 255.0) * span
        if full_range and upper == 255.0:
            upper = 65535.0 if dtype == np.uint16 else max(high, 1e30)
        else:
            upper = low + (upper / 255.0) * span
    else:
        lower = upper = low
    if dtype == np.uint16:
        lower = float(math_round(max(lower, 0.0)))
        upper = float(math_round(min(upper, 65535.0)))
    return float(lower), float(upper)


def _plane_limits(pixels, method, dark_background, imagej):
    histogram, low, high = _plane_histogram(pixels)
    threshold = threshold_histogram(histogram, method, imagej)
    lower, upper = _bin_limits(threshold, dark_background)
    return _scale_limits(lower, upper, low, high, pixels.dtype, full_range=True)


def auto_threshold(image, method: str = "Default", dark_background: bool = True, *, stack_histogram: bool = False,
                   imagej: str = "1.54"):
    """Threshold limits as ImageJ's ``ip.setAutoThreshold(method + " dark")`` sets them.

    Parameters
    ----------
    image : ndarray
        8-bit, 16-bit or 32-bit greyscale; 2D, or a stack whose last two axes
        are Y and X. int16 is treated as ImageJ opens it (raw + 32768 with a
        calibration) and the limits are given back in the image's own values;
        booleans as 8-bit 0/255; other types as 32-bit float.
    method : str
        One of :data:`THRESHOLD_METHODS` (any case).
    dark_background : bool
        True: objects are brighter than the background (fluorescence), the
        selection is the values above the threshold. False: objects are darker.
    stack_histogram : bool
        Stacks only. False (ImageJ's default): each plane is thresholded on its
        own histogram, as if it were the current slice. True: one threshold from
        all planes pooled, as ImageJ's "Stack histogram" option
        (``setAutoThreshold("Otsu dark stack")``), whose 16/32-bit limits span
        only the stack's min..max.
    imagej : {'1.54', '1.53'}
        Which ImageJ to follow: 1.54p (current Fiji, default) or 1.53t.

    Returns
    -------
    lower, upper : float, or ndarray of float for a stack without ``stack_histogram``
        ``getMinThreshold()`` and ``getMaxThreshold()``: pixels with
        ``lower <= value <= upper`` are selected. For a stack thresholded per
        plane, arrays shaped like the image without its last two axes.

    Raises
    ------
    ValueError
        Unknown method or unsupported image type.
    """
    name = canonical_method(method)
    _check_generation(imagej)
    image = np.asarray(image)
    if image.ndim < 2:
        raise InputError(f"expected an image with at least 2 dimensions (Y, X), got shape {image.shape}")
    if image.size == 0:
        raise InputError(f"the image is empty (shape {image.shape})")
    pixels, offset = _as_imagej_pixels(image)
    if image.ndim == 2 or stack_histogram:
        if image.ndim == 2:
            lower, upper = _plane_limits(pixels, name, dark_background, imagej)
        else:
            histogram, low, high = _stack_histogram(pixels, imagej)
            threshold = threshold_histogram(histogram, name, imagej)
            bin_lower, bin_upper = _bin_limits(threshold, dark_background)
            lower, upper = _scale_limits(bin_lower, bin_upper, low, high, pixels.dtype, full_range=False)
        return lower + offset, upper + offset
    planes = pixels.reshape((-1,) + pixels.shape[-2:])
    limits = np.array([_plane_limits(plane, name, dark_background, imagej) for plane in planes], dtype=np.float64)
    shape = pixels.shape[:-2]
    return limits[:, 0].reshape(shape) + offset, limits[:, 1].reshape(shape) + offset


def threshold_mask(image, method: str = "Default", dark_background: bool = True, *, stack_histogram: bool = False,
                   imagej: str = "1.54"):
    """Pixels ImageJ selects (shows red) after ``setAutoThreshold``: ``lower <= v <= upper``.

    Parameters
    ----------
    image, method, dark_background, stack_histogram, imagej
        See :func:`auto_threshold`; stacks are thresholded plane by plane unless
        ``stack_histogram``.

    Returns
    -------
    ndarray of bool
        Same shape as ``image``; NaN pixels are never selected.
    """
    image = np.asarray(image)
    lower, upper = auto_threshold(image, method, dark_background, stack_histogram=stack_histogram, imagej=imagej)
    return mask_from_limits(image, lower, upper)


def mask_from_limits(image, lower, upper) -> np.ndarray:
    """``lower <= value <= upper`` with the values ImageJ holds for ``image``.

    ``lower`` and ``upper`` are scalars or, for a stack, arrays with one value
    per plane (as :func:`auto_threshold` returns them). Values are compared as
    ImageJ stores them: float64 and integer types other than 8/16-bit as 32-bit
    float, booleans as 0/255. NaN is never selected.
    """
    image = np.asarray(image)
    if np.ndim(lower):
        lower = np.asarray(lower, dtype=np.float64)[..., None, None]
    if np.ndim(upper):
        upper = np.asarray(upper, dtype=np.float64)[..., None, None]
    if image.dtype == np.bool_:
        values = image.astype(np.uint8) * np.uint8(255)
    elif image.dtype.kind in "iuf" and image.dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        values = image.astype(np.float32)
    else:
        values = image
    with np.errstate(invalid="ignore"):
        return (values >= lower) & (values <= upper)
