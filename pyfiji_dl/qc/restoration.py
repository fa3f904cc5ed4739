"""Image-restoration metrics (CARE, Noise2Void) as CSBDeep and ZeroCostDL4Mic compute them.

A restored image and its ground truth (GT) differ in offset and scale, so raw
pixel differences say little. The QC of the CARE notebooks therefore first
normalises the pair:

1. the GT to its 0.1-99.9 percentiles (CSBDeep's ``normalize``), in float32;
2. both images to zero mean, and the prediction (or the input) scaled by the
   least-squares factor that minimises the mean squared error to the GT
   (``norm_minmse``).

Then, with a data range of 1 (the normalised GT spans about [0, 1]):

* SSIM with an 11x11 Gaussian window (sigma 1.5), population covariance,
  K1 = 0.01, K2 = 0.03, and mSSIM the mean of the map without a 5-pixel border:
  scikit-image's ``structural_similarity(..., gaussian_weights=True,
  use_sample_covariance=False, sigma=1.5, data_range=1)``, called on float64 copies
  (scikit-image computes in its input's precision, and ``norm_minmse`` gives float32:
  float64 keeps the figures this module gave when it computed SSIM itself, bit for bit);
* PSNR = 10 log10(1 / MSE): scikit-image's ``peak_signal_noise_ratio``;
* NRMSE = sqrt(MSE), CSBDeep's ``get_scores`` value (scikit-image's ``mean_squared_error``);
* RSE map = |GT - x| (the root of the squared error, pixel by pixel).

ZeroCostDL4Mic's tables print ``sqrt(mean(RSE map))`` under the name "NRMSE",
which is the square root of the mean *absolute* error, not an RMSE. It is reported
here as ``zerocost_nrmse`` so numbers can be compared with those notebooks, next
to the real RMSE.

3D stacks are scored slice by slice (first axis = z), each slice normalised on its
own, as ZeroCostDL4Mic's CARE 3D QC does. Metrics are computed for the prediction
vs the GT and, as the baseline the network has to beat, the input vs the GT.
"""

from __future__ import annotations

import numpy as np

from ..data.normalize import normalize_percentile as _normalize_percentile
from ..errors import InputError

__all__ = [
    "normalize_percentile",
    "normalize_minmse",
    "norm_minmse",
    "ssim_map",
    "mssim",
    "psnr",
    "nrmse",
    "zerocost_nrmse",
    "rse_map",
    "restoration_metrics",
    "restoration_metrics_per_slice",
    "restoration_maps",
]

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # 11-tap window for sigma 1.5, as Wang et al. 2004 and skimage
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 1.0
GT_PERCENTILES = (0.1, 99.9)


def normalize_percentile(x, pmin=GT_PERCENTILES[0], pmax=GT_PERCENTILES[1], *, clip=False, eps=1e-20):
    """Map the ``pmin`` and ``pmax`` percentiles of ``x`` to 0 and 1 (CSBDeep's ``normalize``).

    The QC default 0.1/99.9 is what ``norm_minmse`` applies to the GT; see
    :func:`pyfiji_dl.data.normalize.normalize_percentile`.
    """
    return _normalize_percentile(x, pmin, pmax, clip=clip, eps=eps)


def normalize_minmse(x, target):
    """Affine rescaling ``alpha * x + beta`` of ``x`` with the least squared error to ``target``.

    CSBDeep's ``csbdeep.utils.normalize_minmse``, used in the CARE notebooks to put a
    prediction on the intensity scale of its target before showing both.

    Parameters
    ----------
    x, target : ndarray
        Same shape.

    Returns
    -------
    ndarray
    """
    x = np.asarray(x)
    target = np.asarray(target)
    _check_same_shape(x, target)
    cov = np.cov(x.flatten(), target.flatten())
    alpha = cov[0, 1] / (cov[0, 0] + 1e-10)
    beta = target.mean() - alpha * x.mean()
    return alpha * x + beta


def norm_minmse(gt, x, normalize_gt=True):
    """Normalise a GT/image pair for QC as ZeroCostDL4Mic's and CSBDeep's ``norm_minmse``.

    The GT is percentile-normalised (0.1-99.9) and centred; ``x`` is centred and
    scaled by ``cov(x, gt) / var(x)`` so its squared error to the GT is (close to)
    minimal. The arithmetic follows the notebooks step by step (float32 images,
    ``np.cov``'s sample covariance over ``np.var``'s population variance), so the
    metrics equal theirs.

    Parameters
    ----------
    gt, x : ndarray
        Ground truth and the image compared with it (prediction or input), same shape.
    normalize_gt : bool
        Percentile-normalise the GT first (as the QC does).

    Returns
    -------
    gt_normalised, x_normalised : ndarray of float32

    Notes
    -----
    The scale is ``N / (N - 1)`` times the least-squares factor (sample covariance
    over population variance); kept, because it is what the published numbers use.
    A constant ``x`` cannot be scaled (the notebooks divide by zero and get NaN);
    here it becomes all zeros, i.e. it predicts the GT's mean.
    """
    gt = np.asarray(gt)
    x = np.asarray(x)
    _check_same_shape(gt, x)
    if normalize_gt:
        gt = normalize_percentile(gt, *GT_PERCENTILES).astype(np.float32, copy=False)
    x = x.astype(np.float32, copy=False) - np.mean(x)
    gt = gt.astype(np.float32, copy=False) - np.mean(gt)
    variance = np.var(x.flatten())
    if variance == 0:
        return gt, np.zeros_like(x)
    scale = np.cov(x.flatten(), gt.flatten())[0, 1] / variance
    return gt, scale * x


def ssim_map(gt, x, *, data_range=DATA_RANGE, sigma=SSIM_SIGMA):
    """Local structural similarity, pixel by pixel (Gaussian window).

    Equal to the ``full=True`` map of ``skimage.metrics.structural_similarity(gt, x,
    data_range=data_range, gaussian_weights=True, use_sample_covariance=False,
    sigma=sigma)``, computed in float64. 3D stacks are processed slice by slice
    (first axis), not with a 3D window.

    Parameters
    ----------
    gt, x : ndarray
        2D images or 3D stacks of the same shape, already normalised (see
        :func:`norm_minmse`).
    data_range : float
    sigma : float

    Returns
    -------
    ndarray of float64
        Same shape as the inputs; 1 = locally identical.
    """
    gt, x = _as_image_pair(gt, x)
    if gt.ndim == 3:
        return np.stack([_ssim_2d(g, p, data_range, sigma)[1] for g, p in zip(gt, x)])
    return _ssim_2d(gt, x, data_range, sigma)[1]


def mssim(gt, x, *, data_range=DATA_RANGE, sigma=SSIM_SIGMA):
    """Mean SSIM, ignoring a border as wide as the window radius (as scikit-image).

    Parameters
    ----------
    gt, x : ndarray
        2D images, or 3D stacks (then the mean of the per-slice values).

    Returns
    -------
    float
    """
    gt, x = _as_image_pair(gt, x)
    slices = zip(gt, x) if gt.ndim == 3 else [(gt, x)]
    values = [_ssim_2d(g, p, data_range, sigma)[0] for g, p in slices]
    return float(np.mean(values))


def psnr(gt, x, *, data_range=DATA_RANGE):
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range**2 / MSE)``.

    ``data_range`` 1 as the notebooks use for normalised images; equal to
    ``skimage.metrics.peak_signal_noise_ratio(gt, x, data_range=1.0)``. Identical
    images give ``inf``.
    """
    from skimage.metrics import peak_signal_noise_ratio

    gt, x = _as_image_pair(gt, x)
    with np.errstate(divide="ignore"):  # identical images: MSE 0, PSNR inf
        return float(peak_signal_noise_ratio(gt, x, data_range=data_range))


def nrmse(gt, x):
    """Root mean squared error of normalised images (CSBDeep's ``get_scores`` "nrmse").

    After :func:`norm_minmse` the GT spans about 1, so this is the RMSE relative to
    the GT's intensity range. Lower is better.
    """
    from skimage.metrics import mean_squared_error

    gt, x = _as_image_pair(gt, x)
    return float(np.sqrt(mean_squared_error(gt, x)))


def zerocost_nrmse(gt, x):
    """The value ZeroCostDL4Mic's QC tables call "NRMSE": ``sqrt(mean(|gt - x|))``.

    That is the square root of the mean absolute error, not a root mean squared
    error; kept only so numbers can be compared with those notebooks.
    """
    gt, x = _as_image_pair(gt, x)
    return float(np.sqrt(np.mean(np.abs(gt - x), dtype=np.float64)))


def rse_map(gt, x):
    """Root squared error pixel by pixel, ``sqrt((gt - x)**2)`` (float32, as saved by the notebooks)."""
    gt, x = _as_image_pair(gt, x)
    return np.abs(gt - x).astype(np.float32)


def restoration_metrics_per_slice(prediction, gt, source=None):
    """QC metrics of a restored image, one row per 2D image or z-slice.

    Parameters
    ----------
    prediction : ndarray
        Network output, 2D (YX) or 3D (ZYX).
    gt : ndarray
        Ground truth (high-SNR image), same shape.
    source : ndarray, optional
        The network's input (low-SNR image), same shape: the baseline.

    Returns
    -------
    list of dict
        One row per slice (a single row for 2D) with ``slice`` (None for 2D) and
        ``mssim_prediction_vs_gt``, ``nrmse_prediction_vs_gt``,
        ``psnr_prediction_vs_gt``, ``zerocost_nrmse_prediction_vs_gt`` and, with
        ``source``, the same four for ``input_vs_gt``.
    """
    prediction, gt, source = _check_restoration_inputs(prediction, gt, source)
    is_stack = gt.ndim == 3
    rows = []
    for z in range(gt.shape[0]) if is_stack else [None]:
        pick = (lambda a: a[z]) if is_stack else (lambda a: a)
        row = {"slice": z}
        candidates = [("prediction", prediction)] + ([("input", source)] if source is not None else [])
        for which, image in candidates:
            gt_norm, image_norm = norm_minmse(pick(gt), pick(image))
            row[f"mssim_{which}_vs_gt"] = mssim(gt_norm, image_norm)
            row[f"nrmse_{which}_vs_gt"] = nrmse(gt_norm, image_norm)
            row[f"psnr_{which}_vs_gt"] = psnr(gt_norm, image_norm)
            row[f"zerocost_nrmse_{which}_vs_gt"] = zerocost_nrmse(gt_norm, image_norm)
        rows.append(row)
    return rows


def restoration_metrics(prediction, gt, source=None):
    """QC metrics of a restored image: prediction vs GT and (optionally) input vs GT.

    Parameters
    ----------
    prediction, gt, source : ndarray
        See :func:`restoration_metrics_per_slice`.

    Returns
    -------
    dict
        The metrics of :func:`restoration_metrics_per_slice`; for a 3D stack the
        mean over its slices, with ``n_slices``. Higher mSSIM and PSNR and lower
        NRMSE are better; the prediction should beat the input.
    """
    rows = restoration_metrics_per_slice(prediction, gt, source)
    keys = [key for key in rows[0] if key != "slice"]
    result = {key: float(np.mean([row[key] for row in rows])) for key in keys}
    result["n_slices"] = len(rows) if rows[0]["slice"] is not None else 1
    return result


def restoration_maps(prediction, gt, source=None):
    """SSIM and RSE maps to save as 32-bit images or show in the QC panel.

    Returns
    -------
    dict of str to ndarray of float32
        ``ssim_prediction_vs_gt``, ``rse_prediction_vs_gt`` and, with ``source``,
        ``ssim_input_vs_gt``, ``rse_input_vs_gt``; each the shape of ``gt``
        (3D stacks slice by slice).
    """
    prediction, gt, source = _check_restoration_inputs(prediction, gt, source)
    maps = {}
    candidates = [("prediction", prediction)] + ([("input", source)] if source is not None else [])
    for which, image in candidates:
        if gt.ndim == 3:
            pairs = [norm_minmse(g, i) for g, i in zip(gt, image)]
            gt_norm = np.stack([p[0] for p in pairs])
            image_norm = np.stack([p[1] for p in pairs])
        else:
            gt_norm, image_norm = norm_minmse(gt, image)
        maps[f"ssim_{which}_vs_gt"] = ssim_map(gt_norm, image_norm).astype(np.float32)
        maps[f"rse_{which}_vs_gt"] = rse_map(gt_norm, image_norm)
    return maps


# ---------------------------------------------------------------------------


def _ssim_2d(gt, x, data_range, sigma):
    """(mSSIM, SSIM map) of two 2D images: scikit-image's, in float64."""
    from skimage.metrics import structural_similarity

    window = _window_size(sigma)
    if min(gt.shape) < window:
        raise InputError(
            f"images of shape {gt.shape} are smaller than the {window}x{window} SSIM window."
        )
    return structural_similarity(
        gt.astype(np.float64, copy=False), x.astype(np.float64, copy=False), data_range=data_range, full=True,
        gaussian_weights=True, sigma=sigma, use_sample_covariance=False, K1=SSIM_K1, K2=SSIM_K2,
    )


def _window_size(sigma):
    # scikit-image's Gaussian window: truncated at 3.5 sigma (its fixed ``truncate``)
    return 2 * int(SSIM_TRUNCATE * sigma + 0.5) + 1


def _check_same_shape(a, b):
    if a.shape != b.shape:
        raise InputError(f"images have different shapes: {a.shape} and {b.shape}.")


def _as_image_pair(gt, x):
    gt = np.asarray(gt)
    x = np.asarray(x)
    _check_same_shape(gt, x)
    if gt.ndim not in (2, 3):
        raise InputError(f"expected a 2D image or a 3D stack (ZYX), got shape {gt.shape}.")
    return gt, x


def _check_restoration_inputs(prediction, gt, source):
    gt = np.asarray(gt)
    prediction = np.asarray(prediction)
    if gt.ndim not in (2, 3):
        raise InputError(f"expected a 2D image or a 3D stack (ZYX), got GT of shape {gt.shape}.")
    if prediction.shape != gt.shape:
        raise InputError(f"prediction {prediction.shape} and GT {gt.shape} have different shapes.")
    if source is not None:
        source = np.asarray(source)
        if source.shape != gt.shape:
            raise InputError(f"input {source.shape} and GT {gt.shape} have different shapes.")
    return prediction, gt, source
