"""pyfiji_dl.qc.restoration against CSBDeep, ZeroCostDL4Mic's QC code and scikit-image."""

import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from pyfiji_dl.qc.restoration import (
    mssim,
    norm_minmse,
    normalize_minmse,
    normalize_percentile,
    nrmse,
    psnr,
    restoration_maps,
    restoration_metrics,
    restoration_metrics_per_slice,
    rse_map,
    ssim_map,
    zerocost_nrmse,
)

csbdeep_utils = pytest.importorskip("csbdeep.utils")


# ZeroCostDL4Mic's QC code (CARE/N2V notebooks), copied as the oracle.
def _notebook_norm_minmse(gt, x, normalize_gt=True):
    if normalize_gt:
        gt = csbdeep_utils.normalize(gt, 0.1, 99.9, clip=False).astype(np.float32, copy=False)
    x = x.astype(np.float32, copy=False) - np.mean(x)
    gt = gt.astype(np.float32, copy=False) - np.mean(gt)
    scale = np.cov(x.flatten(), gt.flatten())[0, 1] / np.var(x.flatten())
    return gt, scale * x


def _notebook_metrics(gt, x):
    gt_norm, x_norm = _notebook_norm_minmse(gt, x)
    index_ssim, _ = structural_similarity(
        gt_norm, x_norm, data_range=1.0, full=True, gaussian_weights=True, use_sample_covariance=False, sigma=1.5
    )
    rse = np.sqrt(np.square(gt_norm - x_norm))
    return {
        "mssim": index_ssim,
        "zerocost_nrmse": np.sqrt(np.mean(rse)),
        "psnr": peak_signal_noise_ratio(gt_norm, x_norm, data_range=1.0),
        "nrmse": np.sqrt(mean_squared_error(gt_norm, x_norm)),  # CSBDeep's get_scores
    }


def _scene(seed=0, shape=(96, 112)):
    """A smooth 16-bit GT, a dim noisy input and a decent 'restoration' of it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    gt = 1000 + 800 * np.sin(xx / 9.0 + seed) * np.cos(yy / 13.0)
    blobs = np.zeros(shape)
    for _ in range(12):
        cy, cx = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        blobs += 3000 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 20.0)
    gt = (gt + blobs).astype(np.uint16)
    source = (0.05 * gt + rng.normal(0, 25, shape) + 100).clip(0).astype(np.uint16)
    prediction = (0.002 * gt + rng.normal(0, 0.15, shape) - 0.3).astype(np.float32)
    return gt, source, prediction


def test_normalisation_is_bitwise_that_of_csbdeep_and_the_notebooks():
    gt, source, prediction = _scene()
    assert np.array_equal(normalize_percentile(gt), csbdeep_utils.normalize(gt, 0.1, 99.9))
    assert np.array_equal(normalize_percentile(gt, 3, 99.8), csbdeep_utils.normalize(gt, 3, 99.8))
    assert normalize_percentile(gt).dtype == np.float32
    for image in (source, prediction):
        expected_gt, expected_x = _notebook_norm_minmse(gt, image)
        got_gt, got_x = norm_minmse(gt, image)
        assert got_gt.dtype == got_x.dtype == np.float32
        assert np.array_equal(got_gt, expected_gt)
        assert np.array_equal(got_x, expected_x)
    assert np.array_equal(normalize_minmse(prediction, gt), csbdeep_utils.normalize_minmse(prediction, gt))


def test_normalize_minmse_recovers_an_affine_relation():
    rng = np.random.default_rng(3)
    target = rng.random((40, 40))
    x = (target - 0.25) / 7.0
    assert np.allclose(normalize_minmse(x, target), target, atol=1e-7)


def test_metrics_equal_notebook_and_scikit_image_values():
    gt, source, prediction = _scene(1)
    for which, image in (("prediction", prediction), ("input", source)):
        expected = _notebook_metrics(gt, image)
        got = restoration_metrics(prediction, gt, source)
        # The notebook's SSIM runs in float32 (skimage keeps the input precision), ours in float64.
        assert got[f"mssim_{which}_vs_gt"] == pytest.approx(expected["mssim"], abs=1e-6)
        assert got[f"psnr_{which}_vs_gt"] == pytest.approx(expected["psnr"], rel=1e-12)
        assert got[f"nrmse_{which}_vs_gt"] == pytest.approx(expected["nrmse"], rel=1e-12)
        assert got[f"zerocost_nrmse_{which}_vs_gt"] == pytest.approx(expected["zerocost_nrmse"], rel=1e-6)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_ssim_and_psnr_agree_with_scikit_image_on_the_same_arrays(dtype, tolerance):
    gt, source, _ = _scene(2)
    gt_norm, x_norm = (a.astype(dtype) for a in norm_minmse(gt, source))
    expected_mean, expected_map = structural_similarity(
        gt_norm, x_norm, data_range=1.0, full=True, gaussian_weights=True, use_sample_covariance=False, sigma=1.5
    )
    assert np.abs(ssim_map(gt_norm, x_norm) - expected_map).max() < tolerance
    assert mssim(gt_norm, x_norm) == pytest.approx(expected_mean, abs=tolerance)
    assert psnr(gt_norm, x_norm) == pytest.approx(peak_signal_noise_ratio(gt_norm, x_norm, data_range=1.0), rel=1e-6)
    assert nrmse(gt_norm, x_norm) == pytest.approx(np.sqrt(mean_squared_error(gt_norm, x_norm)), rel=1e-6)


def _former_ssim_map(gt, x, data_range=1.0, sigma=1.5):
    """The SSIM this module computed itself before it called scikit-image (Wang et al. 2004)."""
    from scipy.ndimage import gaussian_filter

    gt, x = gt.astype(np.float64), x.astype(np.float64)

    def smooth(image):
        return gaussian_filter(image, sigma, truncate=3.5, mode="reflect")

    mean_gt, mean_x = smooth(gt), smooth(x)
    var_gt, var_x = smooth(gt * gt) - mean_gt * mean_gt, smooth(x * x) - mean_x * mean_x
    covariance = smooth(gt * x) - mean_gt * mean_x
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mean_gt * mean_x + c1) * (2 * covariance + c2)
            / ((mean_gt**2 + mean_x**2 + c1) * (var_gt + var_x + c2)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("data_range", [1.0, 2.5])
def test_scikit_image_metrics_give_the_former_figures_bit_for_bit(seed, data_range):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(11, 80, 2))
    gt = rng.random(shape).astype(np.float32) * 3000
    gt_norm, x_norm = norm_minmse(gt, (gt + rng.normal(0, 400, shape)).astype(np.float32))
    former = _former_ssim_map(gt_norm, x_norm, data_range)
    assert np.array_equal(ssim_map(gt_norm, x_norm, data_range=data_range), former)
    assert mssim(gt_norm, x_norm, data_range=data_range) == former[5:-5, 5:-5].mean(dtype=np.float64)
    mse = np.mean(np.square(gt_norm - x_norm), dtype=np.float64)
    assert psnr(gt_norm, x_norm, data_range=data_range) == float(10 * np.log10(data_range**2 / mse))
    assert nrmse(gt_norm, x_norm) == float(np.sqrt(mse))
    stack_gt, stack_x = np.stack([gt_norm, gt_norm[::-1]]), np.stack([x_norm, x_norm[::-1]])
    assert np.array_equal(ssim_map(stack_gt, stack_x, data_range=data_range)[1],
                          _former_ssim_map(gt_norm[::-1], x_norm[::-1], data_range))


def test_ssim_window_larger_than_the_image_is_named():
    with pytest.raises(ValueError, match="smaller than the 11x11 SSIM window"):
        mssim(np.zeros((10, 40)), np.zeros((10, 40)))


def test_simple_values_by_hand():
    gt = np.zeros((16, 16))
    off = gt + 0.1
    assert psnr(gt, off) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert nrmse(gt, off) == pytest.approx(0.1)
    assert zerocost_nrmse(gt, gt + 0.04) == pytest.approx(0.2)  # sqrt(mean |error|)
    assert psnr(gt, gt) == float("inf")
    assert np.allclose(rse_map(gt, off), 0.1) and rse_map(gt, off).dtype == np.float32
    assert mssim(gt + 0.5, gt + 0.5) == pytest.approx(1.0)
    assert np.allclose(ssim_map(gt + 0.5, gt + 0.5), 1.0)


def test_prediction_beats_input_and_identity_is_perfect():
    gt, source, prediction = _scene(4)
    got = restoration_metrics(prediction, gt, source)
    assert got["mssim_prediction_vs_gt"] > got["mssim_input_vs_gt"]
    assert got["psnr_prediction_vs_gt"] > got["psnr_input_vs_gt"]
    assert got["nrmse_prediction_vs_gt"] < got["nrmse_input_vs_gt"]
    perfect = restoration_metrics(gt * 2.0 + 5, gt)  # an affine copy of the GT is perfect after norm_minmse
    assert perfect["mssim_prediction_vs_gt"] == pytest.approx(1.0, abs=1e-6)
    # Not exactly 0: the notebooks' scale is cov (ddof=1) / var (ddof=0), N / (N - 1) too large.
    n = gt.size
    assert perfect["nrmse_prediction_vs_gt"] < 2 * np.std(normalize_percentile(gt)) / (n - 1)
    assert "mssim_input_vs_gt" not in perfect and perfect["n_slices"] == 1


def test_stacks_are_scored_slice_by_slice():
    scenes = [_scene(seed, shape=(48, 40)) for seed in (5, 6, 7)]
    gt, source, prediction = (np.stack(parts) for parts in zip(*scenes))
    rows = restoration_metrics_per_slice(prediction, gt, source)
    assert [row["slice"] for row in rows] == [0, 1, 2]
    for z, row in enumerate(rows):
        single = restoration_metrics(prediction[z], gt[z], source[z])
        for key, value in single.items():
            if key != "n_slices":
                assert row[key] == value
    summary = restoration_metrics(prediction, gt, source)
    assert summary["n_slices"] == 3
    assert summary["mssim_prediction_vs_gt"] == pytest.approx(np.mean([r["mssim_prediction_vs_gt"] for r in rows]))
    # Slice-wise, not one 3D normalisation: differs from scoring the whole stack at once.
    whole = _notebook_metrics(gt.reshape(-1, 40), prediction.reshape(-1, 40))
    assert summary["psnr_prediction_vs_gt"] != pytest.approx(whole["psnr"], rel=1e-6)
    maps = restoration_maps(prediction, gt, source)
    assert set(maps) == {"ssim_prediction_vs_gt", "rse_prediction_vs_gt", "ssim_input_vs_gt", "rse_input_vs_gt"}
    assert all(m.shape == gt.shape and m.dtype == np.float32 for m in maps.values())
    assert np.allclose(maps["ssim_prediction_vs_gt"][1], ssim_map(*norm_minmse(gt[1], prediction[1])), atol=1e-6)


def test_constant_prediction_gives_numbers_not_nan():
    gt, _, _ = _scene(8)
    got = restoration_metrics(np.full(gt.shape, 7.0, np.float32), gt)
    assert all(np.isfinite(v) for v in got.values())


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match="different shapes"):
        restoration_metrics(np.zeros((20, 20)), np.zeros((20, 21)))
    with pytest.raises(ValueError, match="SSIM window"):
        mssim(np.zeros((8, 30)), np.zeros((8, 30)))
    with pytest.raises(ValueError, match="2D image or a 3D stack"):
        restoration_metrics(np.zeros((2, 3, 20, 20)), np.zeros((2, 3, 20, 20)))
