"""Tiles and blocks for prediction (pyfiji_dl.models.tiling).

Shapes only for the arithmetic (huge shapes never allocate anything); a tiny
untrained StarDist2D checks that the numbers are accepted by StarDist itself and
that block-wise prediction reproduces whole-image prediction.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from pyfiji_dl.models import tiling
from pyfiji_dl.models.tiling import (
    BYTES_PER_PIXEL_ESTIMATE,
    available_memory_bytes,
    block_parameters,
    choose_n_tiles,
    estimate_tile_bytes,
    needs_block_processing,
    unet_receptive_radius,
)

GIB = 1 << 30


def fits(shape, axes, n_tiles, budget, **kw):
    return estimate_tile_bytes(shape, axes, n_tiles, **kw) <= budget


# ---------------------------------------------------------------- n_tiles


@pytest.mark.parametrize(
    "shape, axes", [((512, 512), "YX"), ((1024, 1024, 3), "YXC"), ((16, 256, 256), "ZYX")]
)
def test_small_images_get_one_tile(shape, axes):
    assert choose_n_tiles(shape, axes, memory_bytes=4 * GIB) == (1,) * len(shape)


def test_default_budget_is_half_the_available_memory(monkeypatch):
    monkeypatch.setattr(tiling, "available_memory_bytes", lambda: 8 * GIB)
    shape = (20000, 20000)
    expected = choose_n_tiles(shape, "YX", memory_bytes=4 * GIB)
    assert expected != (1, 1)
    assert choose_n_tiles(shape, "YX") == expected
    monkeypatch.setattr(tiling, "available_memory_bytes", lambda: 64 * GIB)
    assert math.prod(choose_n_tiles(shape, "YX")) < math.prod(expected)


@pytest.mark.parametrize(
    "shape, axes, grid, overlap, budget",
    [
        ((100_000, 100_000), "YX", (16, 16), 128, 4 * GIB),
        ((100_000, 3_000), "YX", (16, 16), 128, 2 * GIB),
        ((4096, 4096), "YX", (16, 16), 96, 1 * GIB),
        ((300, 8192, 8192), "ZYX", (1, 8, 8), (32, 96, 96), 24 * GIB),
        ((5, 2, 60, 9000, 9000), "TCZYX", (4, 16, 16), (24, 128, 128), 24 * GIB),
    ],
)
def test_huge_images_get_the_fewest_tiles_that_fit(shape, axes, grid, overlap, budget):
    kw = dict(grid=grid, overlap=overlap)
    n_tiles = choose_n_tiles(shape, axes, memory_bytes=budget, **kw)
    assert math.prod(n_tiles) > 1
    assert len(n_tiles) == len(shape)
    assert fits(shape, axes, n_tiles, budget, **kw)
    for i, a in enumerate(axes):
        if a not in "ZYX":
            assert n_tiles[i] == 1, "only spatial axes are tiled"
        elif n_tiles[i] > 1:  # one tile fewer along any axis no longer fits
            fewer = list(n_tiles)
            fewer[i] -= 1
            assert not fits(shape, axes, fewer, budget, **kw), (a, n_tiles)


def test_tiles_follow_the_network_divisibility():
    # csbdeep cuts tiles from whole blocks of the divisibility: 1000 px at 16 is
    # 63 blocks; a tile cannot be smaller than one block
    with pytest.warns(UserWarning, match="more than the"):
        n_tiles = choose_n_tiles((1000, 1000), "YX", grid=(16, 16), memory_bytes=1, overlap=0)
    assert n_tiles == (63, 63)
    assert estimate_tile_bytes((1000, 1000), "YX", n_tiles, grid=16, overlap=0) == 16 * 16 * (
        BYTES_PER_PIXEL_ESTIMATE + tiling.BYTES_PER_INPUT_CHANNEL
    )


def test_overlap_counts_towards_the_tile_size():
    shape = (6000, 6000)
    small = choose_n_tiles(shape, "YX", memory_bytes=2 * GIB, overlap=0)
    large = choose_n_tiles(shape, "YX", memory_bytes=2 * GIB, overlap=256)
    assert math.prod(large) > math.prod(small)


def test_default_halo_is_smaller_for_3d_networks():
    shape = (64, 1024, 1024)
    default = estimate_tile_bytes(shape, "ZYX", (1, 2, 2))
    assert default == estimate_tile_bytes(shape, "ZYX", (1, 2, 2), overlap=64)
    assert default < estimate_tile_bytes(shape, "ZYX", (1, 2, 2), overlap=128)
    flat = (1024, 1024)
    assert estimate_tile_bytes(flat, "YX", (2, 2)) == estimate_tile_bytes(flat, "YX", (2, 2), overlap=128)


def test_channels_cost_memory():
    shape = (4000, 4000)
    one = estimate_tile_bytes(shape, "YX", (1, 1))
    assert estimate_tile_bytes(shape + (40,), "YXC", (1, 1, 1)) > one
    forty = estimate_tile_bytes(shape + (40,), "YXC", (1, 1, 1))
    assert estimate_tile_bytes(shape, "YX", (1, 1), n_channels=40) == forty


def test_impossible_budget_warns_and_returns_the_smallest_useful_tiles():
    with pytest.warns(UserWarning, match="more than the"):
        assert choose_n_tiles((64, 64), "YX", grid=(16, 16), memory_bytes=10, overlap=0) == (4, 4)
    # with a 128 px halo a tile of a 64 px image is the whole image: tiling cannot help
    with pytest.warns(UserWarning, match="more than the"):
        assert choose_n_tiles((64, 64), "YX", grid=(16, 16), memory_bytes=10) == (1, 1)
    # a tile's own region is not cut below its halo: 200 slices with a 32-slice halo
    # give at most 6 tiles (34 slices each, plus 2 x 32 of halo)
    with pytest.warns(UserWarning, match="more than the"):
        n_tiles = choose_n_tiles((200, 64, 64), "ZYX", grid=1, overlap=(32, 64, 64), memory_bytes=10)
    assert n_tiles == (6, 1, 1)
    assert estimate_tile_bytes((200, 64, 64), "ZYX", n_tiles, overlap=(32, 64, 64)) == 98 * 64 * 64 * (
        BYTES_PER_PIXEL_ESTIMATE + tiling.BYTES_PER_INPUT_CHANNEL
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="does not match axes"):
        choose_n_tiles((10, 10), "ZYX", memory_bytes=GIB)
    with pytest.raises(ValueError, match="one per spatial axis"):
        choose_n_tiles((10, 10), "YX", grid=(1, 1, 1), memory_bytes=GIB)


def test_available_memory_is_ram_without_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert tiling._gpu_memory_bytes() is None
    monkeypatch.setattr(tiling, "_available_ram_bytes", lambda: 5 * GIB)
    monkeypatch.setattr(tiling, "_own_resident_bytes", lambda: 0)
    assert available_memory_bytes() == 5 * GIB


def test_memory_this_process_holds_counts_as_available(monkeypatch):
    # TensorFlow reuses what an earlier prediction left allocated: the budget must not
    # shrink (and tiling grow) from one image to the next in the same process
    monkeypatch.setattr(tiling, "_gpu_memory_bytes", lambda: None)
    monkeypatch.setattr(tiling, "_available_ram_bytes", lambda: 5 * GIB)
    monkeypatch.setattr(tiling, "_own_resident_bytes", lambda: 2 * GIB)
    assert available_memory_bytes() == 7 * GIB
    monkeypatch.undo()
    assert tiling._own_resident_bytes() > 10 * 2**20  # this Python with NumPy holds more than 10 MiB


def test_ram_is_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n")
    assert tiling._available_ram_bytes(str(meminfo)) == 8_000_000 * 1024
    # without /proc (macOS, Windows): sysconf, or a small-machine guess
    assert 64 << 20 < tiling._available_ram_bytes(str(tmp_path / "missing")) < 1 << 50
    assert 64 << 20 < tiling._available_ram_bytes() < 1 << 50


def test_available_memory_takes_the_smaller_gpu(monkeypatch):
    monkeypatch.setattr(tiling, "_gpu_memory_bytes", lambda: 3 * GIB)
    monkeypatch.setattr(tiling, "_available_ram_bytes", lambda: 32 * GIB)
    monkeypatch.setattr(tiling, "_own_resident_bytes", lambda: 0)
    assert available_memory_bytes() == 3 * GIB
    assert available_memory_bytes(include_gpu=False) == 32 * GIB


# ---------------------------------------------------------------- blocks


@pytest.mark.parametrize(
    "shape, axes, expected",
    [
        ((8192, 100), "YX", True),
        ((8191, 8191), "YX", False),
        ((3, 2000, 9000), "CYX", True),
        ((50, 1000, 1000), "TYX", False),
        ((9000, 9000, 3), "YXS", True),
    ],
)
def test_needs_block_processing(shape, axes, expected):
    assert needs_block_processing(shape, axes) is expected


def test_needs_block_processing_threshold():
    assert needs_block_processing((3000, 3000), "YX", threshold=2048)


def _check_stardist_rules(shape, params, div_by):
    """The rules predict_instances_big / stardist.big.Block.cover assert."""
    per_axis = zip(shape, params["block_size"], params["min_overlap"], params["context"], div_by)
    for size, block, overlap, context, d in per_axis:
        assert block % d == 0 and overlap % d == 0 and context % d == 0
        assert 0 <= overlap + 2 * context < block <= size


@pytest.mark.parametrize("grid", [(1, 1), (2, 2), (4, 2)])
def test_block_parameters_obey_stardist_rules(grid):
    shape = (30000, 20011)
    params = block_parameters(shape, 60, grid)
    div_by = tuple(g * 8 for g in grid)
    _check_stardist_rules(shape, params, div_by)
    assert all(o > 60 * 1.25 for o in params["min_overlap"])
    assert all(c >= unet_receptive_radius(grid=g) for c, g in zip(params["context"], grid))
    assert params["block_size"] == (4096, 4096)


def test_block_parameters_with_channel_axis_and_model_values():
    params = block_parameters(
        (12000, 3, 9000), 30, (2, 2), axes="YCX", context=(94, 94), divisible_by=(16, 16)
    )
    assert params["block_size"][1] == 3 and params["min_overlap"][1] == 0 and params["context"][1] == 0
    assert params["context"][0] == params["context"][2] == 96  # 94 up to a multiple of 16
    assert params["min_overlap"][0] == 48  # > 1.25 * 30 + 1, multiple of 16
    _check_stardist_rules((12000, 9000), {k: v[::2] for k, v in params.items()}, (16, 16))


def test_blocks_grow_for_big_objects_and_shrink_to_the_image():
    params = block_parameters((50000, 50000), 2000, 2)
    block, overlap, context = params["block_size"][0], params["min_overlap"][0], params["context"][0]
    assert block >= 2 * (overlap + 2 * context) and overlap > 2500
    small = block_parameters((1000, 700), 20, 2)
    _check_stardist_rules((1000, 700), small, (16, 16))
    assert small["block_size"] == (992, 688)


def test_block_parameters_3d():
    params = block_parameters((200, 3000, 3000), 20, (1, 2, 2), block_size=512)
    _check_stardist_rules((200, 3000, 3000), params, (8, 16, 16))


def test_image_too_small_for_blocks_is_explained():
    with pytest.raises(ValueError, match="too small.*predict_instances"):
        block_parameters((300, 300), 100, 2)
    with pytest.raises(ValueError, match="positive"):
        block_parameters((3000, 3000), 0, 2)


# ---------------------------------------------------------------- with StarDist itself


@pytest.fixture(scope="module")
def tiny_stardist():
    """An untrained StarDist2D: its predictions are garbage but deterministic."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pytest.importorskip("stardist")
    from stardist.models import Config2D, StarDist2D

    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)  # the same random weights every run
    config = Config2D(n_rays=8, grid=(2, 2), unet_n_depth=1, unet_n_filter_base=4)
    return StarDist2D(config, name=None, basedir=None)


def test_receptive_radius_bounds_stardists_own_estimate(tiny_stardist):
    c = tiny_stardist.config
    estimate = unet_receptive_radius(
        n_depth=c.unet_n_depth,
        kernel_size=c.unet_kernel_size[0],
        n_conv_per_depth=c.unet_n_conv_per_depth,
        grid=c.grid[0],
        conv_after_unet=c.net_conv_after_unet > 0,
    )
    measured = tiny_stardist._axes_tile_overlap("YX")
    assert all(measured_axis <= estimate < 1.5 * measured_axis for measured_axis in measured)


def test_n_tiles_accepted_by_stardist(tiny_stardist):
    img = np.random.default_rng(0).random((200, 232)).astype(np.float32)
    div_by = tiny_stardist._axes_div_by("YX")
    overlap = max(tiny_stardist._axes_tile_overlap("YX"))
    # a budget of ~80k pixels forces tiling of this 46k-pixel image plus overlap
    n_tiles = choose_n_tiles(img.shape, "YX", grid=div_by, overlap=overlap, memory_bytes=30_000 * 2064)
    assert math.prod(n_tiles) > 1
    whole = tiny_stardist.predict(img)[0]
    tiled = tiny_stardist.predict(img, n_tiles=n_tiles, show_tile_progress=False)[0]
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_block_parameters_make_predict_instances_big_match_whole_image(tiny_stardist):
    from stardist.big import BlockND

    model = tiny_stardist
    img = np.random.default_rng(1).random((330, 300)).astype(np.float32)
    prob = model.predict(img)[0]
    # the untrained net gives tiny objects around 0.5; keep the top 0.5 %
    kwargs = dict(prob_thresh=float(np.percentile(prob, 99.5)), nms_thresh=0.3)
    whole, whole_polys = model.predict_instances(img, **kwargs)
    assert whole.max() > 50

    params = block_parameters(
        img.shape,
        10,
        model.config.grid,
        context=model._axes_tile_overlap("YX"),
        divisible_by=model._axes_div_by("YX"),
        block_size=160,
    )
    blocks = BlockND.cover(
        img.shape, "YX", params["block_size"], params["min_overlap"], params["context"], model._axes_div_by("YX")
    )
    assert len(blocks) > 4  # really block-wise
    big, big_polys = model.predict_instances_big(img, "YX", **params, show_progress=False, **kwargs)
    assert big.max() == whole.max()
    np.testing.assert_array_equal(big > 0, whole > 0)
    points_big, points_whole = (np.unique(p["points"], axis=0) for p in (big_polys, whole_polys))
    np.testing.assert_array_equal(points_big, points_whole)
