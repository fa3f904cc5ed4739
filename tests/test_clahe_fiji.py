"""clahe() against Fiji's Enhance Local Contrast (CLAHE) (mpicbg plugin).

The references in ``tests/data/clahe`` were produced by the mpicbg CLAHE classes
on ImageJ 1.53t (see the README there).  Tolerance: none.  Every case must
match Fiji pixel for pixel (8-bit and 16-bit equal, 32-bit bit-identical), and
it does (measured: 100 % identical pixels, max abs difference 0, on every
reference below).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyfiji_dl.annotation.clahe import clahe

DATA = Path(__file__).parent / "data" / "clahe"


def load(name):
    return tifffile.imread(DATA / name)


# (input, Fiji output, keyword arguments of clahe)
CASES = [
    ("nuclei_u8.tif", "fiji_nuclei_u8.tif", {}),
    ("nuclei_u16.tif", "fiji_nuclei_u16.tif", {}),
    ("nuclei_u16.tif", "fiji_nuclei_u16_range10-90.tif", {"display_range": (10, 90)}),
    ("nuclei_f32.tif", "fiji_nuclei_f32.tif", {}),
    ("cell_u8.tif", "fiji_cell_u8.tif", {}),
    (
        "cell_u8.tif",
        "fiji_cell_u8_b31_h64_s2.5.tif",
        {"block_size": 31, "bins": 64, "max_slope": 2.5},
    ),
    ("cell_u8.tif", "fiji_cell_u8_mask.tif", {"mask": "mask_ramp_u8.tif"}),
    ("nuclei3d_u16.tif", "fiji_nuclei3d_u16.tif", {}),
    ("const_u8.tif", "fiji_const_u8.tif", {}),
    ("const_u16.tif", "fiji_const_u16.tif", {}),
    ("nuclei_u8.tif", "fiji_nuclei_u8_fast.tif", {"fast": True}),
    ("nuclei_u16.tif", "fiji_nuclei_u16_fast.tif", {"fast": True}),
    ("cell_u8.tif", "fiji_cell_u8_fast.tif", {"fast": True}),
    (
        "cell_u8.tif",
        "fiji_cell_u8_fast_b31_h64_s2.5.tif",
        {"fast": True, "block_size": 31, "bins": 64, "max_slope": 2.5},
    ),
]


@pytest.mark.parametrize("inp, ref, kwargs", CASES, ids=[c[1][5:-4] for c in CASES])
def test_matches_fiji_exactly(inp, ref, kwargs):
    image = load(inp)
    expected = load(ref)
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("mask"), str):
        kwargs["mask"] = load(kwargs["mask"])
    out = clahe(image, **kwargs)
    assert out.dtype == image.dtype == expected.dtype
    assert out.shape == image.shape == expected.shape
    differ = out != expected
    worst = np.abs(out.astype(np.float64) - expected.astype(np.float64)).max()
    assert not differ.any(), (
        f"{differ.sum()} of {differ.size} pixels differ from Fiji, max |diff| {worst}"
    )
    # the references do change the image (except the constant 16-bit one)
    if "const_u16" not in inp:
        assert not np.array_equal(out, image)


def test_fiji_constant_images():
    # what Fiji does: clipping spreads the single 8-bit peak over all bins and
    # lifts 100 to 101; a constant 16/32-bit image has an all-zero 8-bit view
    # under its reset display range and stays unchanged
    assert np.all(load("fiji_const_u8.tif") == 101)
    assert np.all(clahe(np.full((50, 60), 100, np.uint8)) == 101)
    for dtype, value in ((np.uint16, 4321), (np.float32, -2.5)):
        image = np.full((50, 60), value, dtype)
        np.testing.assert_array_equal(clahe(image), image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_dtype_shape_kept_and_input_untouched(dtype):
    image = load("nuclei_u16.tif")[:90, :110].astype(dtype)
    before = image.copy()
    out = clahe(image, block_size=31)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert out is not image and not np.shares_memory(out, image)
    np.testing.assert_array_equal(image, before)
    if dtype is np.float64:
        np.testing.assert_array_equal(out, clahe(image.astype(np.float32), block_size=31))


def test_stack_is_processed_plane_by_plane():
    stack = load("nuclei3d_u16.tif")
    out = clahe(stack, block_size=41)
    for plane_in, plane_out in zip(stack, out):
        np.testing.assert_array_equal(clahe(plane_in, block_size=41), plane_out)
    # leading dimensions are flattened and restored
    out4 = clahe(stack.reshape(2, 3, *stack.shape[1:]), block_size=41)
    np.testing.assert_array_equal(out4.reshape(stack.shape), out)


def test_mask_extremes():
    image = load("cell_u8.tif")
    np.testing.assert_array_equal(clahe(image, mask=np.zeros(image.shape, bool)), image)
    np.testing.assert_array_equal(
        clahe(image, mask=np.ones(image.shape, bool)), load("fiji_cell_u8.tif")
    )
    image16 = load("nuclei_u16.tif")
    np.testing.assert_array_equal(
        clahe(image16, mask=np.zeros(image16.shape, np.uint8)), image16
    )


def test_display_range_semantics():
    image = load("nuclei_u16.tif")
    # (0, 0) means "reset" in ImageJ, and the data range is the default
    reset = load("fiji_nuclei_u16.tif")
    np.testing.assert_array_equal(clahe(image, display_range=(0, 0)), reset)
    np.testing.assert_array_equal(
        clahe(image, display_range=(int(image.min()), int(image.max()))), reset
    )
    # 8-bit images ignore the display range, as in Fiji
    image8 = load("nuclei_u8.tif")
    np.testing.assert_array_equal(
        clahe(image8, display_range=(10, 50)), load("fiji_nuclei_u8.tif")
    )
    with pytest.raises(ValueError):
        clahe(image, display_range=(90, 10))


def test_invalid_arguments():
    image = load("cell_u8.tif")
    with pytest.raises(TypeError):
        clahe(image.astype(np.int32))
    with pytest.raises(ValueError):
        clahe(image[0])
    with pytest.raises(ValueError):
        clahe(image, bins=1)
    with pytest.raises(ValueError):
        clahe(image, block_size=0)
    with pytest.raises(ValueError):
        clahe(image, max_slope=-1)
    with pytest.raises(ValueError):
        clahe(image, mask=np.zeros((3, 3), np.uint8))
    with pytest.raises(TypeError):
        clahe(image, mask=np.zeros(image.shape, np.float32))
    # Fiji's fast version crashes on planes smaller than one block
    with pytest.raises(ValueError, match="block size"):
        clahe(load("nuclei3d_u16.tif"), fast=True)
