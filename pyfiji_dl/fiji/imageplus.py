"""NumPy arrays <-> ImageJ ``ImagePlus``, one block copy per plane.

Pixels cross between Python and Java as whole planes: a NumPy plane becomes a Java
primitive array with one JPype buffer copy (``JArray(JShort)(plane)``), and a Java
plane is read through its buffer (``np.frombuffer(memoryview(pixels))``), never pixel
by pixel. Axes follow ImageJ's order ``TZCYX`` (plus ``S`` for RGB), as everywhere in
pyfiji_dl; dimensions, calibration, LUT and display range travel with the image.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..io.tiff import Calibration, glasbey_like_lut
from . import jvm
from ..errors import OptionError

IMAGEJ_ORDER = "TZCYXS"
FLOAT32_EXACT_INT = 2**24


def _java_array_type(dtype: np.dtype):
    import jpype

    return {
        np.dtype(np.int8): jpype.JArray(jpype.JByte),
        np.dtype(np.int16): jpype.JArray(jpype.JShort),
        np.dtype(np.float32): jpype.JArray(jpype.JFloat),
        np.dtype(np.int32): jpype.JArray(jpype.JInt),
    }[np.dtype(dtype)]


def imagej_dtype(array: np.ndarray, rgb: bool = False) -> np.ndarray:
    """``array`` as a type ImageJ holds: uint8, uint16, float32 (or uint8 RGB).

    bool -> uint8 (0/1); other integers -> uint16 when they fit, else float32 (exact
    up to 2**24, with a warning beyond); float16/float64 -> float32.
    """
    array = np.asarray(array)
    if rgb:
        if array.dtype != np.uint8:
            raise TypeError(f"RGB images must be uint8, not {array.dtype}")
        return array
    if array.dtype.kind == "b":
        return array.astype(np.uint8)
    if array.dtype in (np.uint8, np.uint16, np.float32):
        return array
    if array.dtype.kind in "iu":
        lo = int(array.min()) if array.size else 0
        hi = int(array.max()) if array.size else 0
        if lo >= 0 and hi <= 65535:
            return array.astype(np.uint16)
        if max(abs(lo), abs(hi)) > FLOAT32_EXACT_INT:
            warnings.warn(f"values up to {max(abs(lo), abs(hi))} do not fit ImageJ's 32-bit float exactly",
                          stacklevel=3)
        return array.astype(np.float32)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    raise TypeError(f"ImageJ cannot hold {array.dtype} images")


def to_imagej_order(array: np.ndarray, axes: str) -> tuple[np.ndarray, bool]:
    """Transpose/expand ``array`` to shape (T, Z, C, Y, X[, S]); whether it is RGB."""
    axes = axes.upper()
    if len(axes) != array.ndim or len(set(axes)) != len(axes) or any(a not in IMAGEJ_ORDER for a in axes):
        raise ValueError(f"axes {axes!r} do not describe an array of shape {array.shape} "
                         f"(use letters from {IMAGEJ_ORDER}, each once)")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} need Y and X")
    rgb = "S" in axes
    if rgb and array.shape[axes.index("S")] != 3:
        raise ValueError(f"axis S (RGB samples) must have length 3, not {array.shape[axes.index('S')]}")
    target = "TZCYXS" if rgb else "TZCYX"
    present = [a for a in target if a in axes]
    array = np.transpose(array, [axes.index(a) for a in present])
    shape = tuple(array.shape[present.index(a)] if a in axes else 1 for a in target)
    return array.reshape(shape), rgb


def _plane_to_java(plane: np.ndarray, rgb: bool):
    """One plane as the Java primitive array ImageJ's processors use (one copy)."""
    if rgb:
        packed = (np.uint32(0xFF000000) | (plane[..., 0].astype(np.uint32) << 16)
                  | (plane[..., 1].astype(np.uint32) << 8) | plane[..., 2].astype(np.uint32))
        flat = np.ascontiguousarray(packed).reshape(-1).view(np.int32)
    else:
        signed = {np.dtype(np.uint8): np.int8, np.dtype(np.uint16): np.int16}.get(plane.dtype)
        flat = np.ascontiguousarray(plane).reshape(-1)
        if signed is not None:
            flat = flat.view(signed)
    return _java_array_type(flat.dtype)(flat)


def _lut_of(lut):
    if lut is None:
        return None
    if isinstance(lut, str):
        if lut.lower() not in ("glasbey", "labels"):
            raise OptionError(f"unknown LUT name {lut!r}; give 'glasbey' or a (3, 256) uint8 array")
        lut = glasbey_like_lut()
    lut = np.asarray(lut)
    if lut.shape == (256, 3):
        lut = lut.T
    if lut.shape != (3, 256):
        raise OptionError(f"a LUT is a (3, 256) array of red, green and blue, not {lut.shape}")
    import jpype

    LUT = jvm.jimport("ij.process.LUT")
    channels = [jpype.JArray(jpype.JByte)(np.ascontiguousarray(lut[k].astype(np.uint8)).view(np.int8))
                for k in range(3)]
    return LUT(*channels)


def set_calibration(imp, calibration: Calibration | None) -> None:
    if calibration is None:
        return
    cal = imp.getCalibration()
    cal.pixelWidth = float(calibration.pixel_width)
    cal.pixelHeight = float(calibration.pixel_height)
    cal.pixelDepth = float(calibration.voxel_depth)
    cal.setUnit(calibration.unit)
    cal.frameInterval = float(calibration.frame_interval)
    cal.setTimeUnit(calibration.time_unit)
    imp.setCalibration(cal)


def calibration_of(imp) -> Calibration:
    cal = imp.getCalibration()
    return Calibration(
        pixel_width=float(cal.pixelWidth),
        pixel_height=float(cal.pixelHeight),
        voxel_depth=float(cal.pixelDepth),
        unit=str(cal.getUnit()),
        frame_interval=float(cal.frameInterval),
        time_unit=str(cal.getTimeUnit()),
    )


def to_imageplus(array, axes: str, *, calibration: Calibration | None = None, lut=None,
                 title: str = "image", display_range: tuple | None = None):
    """Make an ``ij.ImagePlus`` from a NumPy array.

    Parameters
    ----------
    array : ndarray
        uint8, uint16 and float32 stay as they are; other types as :func:`imagej_dtype`.
    axes : str
        Letters from ``TZCYXS`` in any order (``S``: RGB samples, uint8, length 3).
    calibration : Calibration, optional
    lut : (3, 256) uint8 array or ``"glasbey"``, optional
        Applied to every channel.
    title : str
    display_range : (min, max), optional
        Default: 0-255 for 8-bit, the data's minimum and maximum (per channel)
        otherwise; with a LUT on integer data 0 to max(255, maximum), so label ids
        keep their colours.

    Returns
    -------
    ij.ImagePlus
        With ``setDimensions(C, Z, T)``; a ``CompositeImage`` when C > 1.
    """
    jvm.start_imagej()
    data, rgb = to_imagej_order(np.asarray(array), axes)
    data = imagej_dtype(data, rgb)
    n_t, n_z, n_c, height, width = data.shape[:5]
    ImageStack = jvm.jimport("ij.ImageStack")
    ImagePlus = jvm.jimport("ij.ImagePlus")
    stack = ImageStack(width, height)
    for t in range(n_t):
        for z in range(n_z):
            for c in range(n_c):
                stack.addSlice("", _plane_to_java(data[t, z, c], rgb))
    imp = ImagePlus(title, stack)
    imp.setDimensions(n_c, n_z, n_t)
    if n_c > 1 or n_t > 1:
        imp.setOpenAsHyperStack(True)
    if n_c > 1 and not rgb:
        CompositeImage = jvm.jimport("ij.CompositeImage")
        imp = CompositeImage(imp, CompositeImage.COMPOSITE if n_c <= 7 else CompositeImage.GRAYSCALE)
    set_calibration(imp, calibration)
    java_lut = _lut_of(lut)
    if not rgb:
        for c in range(n_c):
            values = data[:, :, c]
            if display_range is not None:
                lo, hi = map(float, display_range)
            elif data.dtype == np.uint8:
                lo, hi = 0.0, 255.0
            elif values.size:
                lo, hi = float(values.min()), float(values.max())
                if java_lut is not None and data.dtype != np.float32:
                    lo, hi = 0.0, max(255.0, hi)
            else:
                lo, hi = 0.0, 1.0
            if n_c > 1:
                imp.setPositionWithoutUpdate(c + 1, 1, 1)
                if java_lut is not None:
                    imp.setChannelLut(java_lut, c + 1)
                imp.setDisplayRange(lo, hi)
            else:
                if java_lut is not None:
                    imp.setLut(java_lut)
                imp.setDisplayRange(lo, hi)
        if n_c > 1:
            imp.setPositionWithoutUpdate(1, 1, 1)
    return imp


def from_imageplus(imp) -> tuple[np.ndarray, str, Calibration]:
    """Read an ``ij.ImagePlus`` into NumPy.

    Returns
    -------
    array : ndarray
        uint8, uint16 or float32; RGB images as uint8 with a last axis ``S`` of 3.
    axes : str
        ImageJ order, axes of length 1 dropped (``"YX"``, ``"TYX"``, ``"TZCYX"``, ...).
    calibration : Calibration
    """
    width, height, n_c, n_z, n_t = (int(v) for v in imp.getDimensions())
    bit_depth = int(imp.getBitDepth())
    dtype = {8: np.uint8, 16: np.uint16, 32: np.float32, 24: np.uint8}.get(bit_depth)
    if dtype is None:
        raise TypeError(f"unsupported ImageJ bit depth {bit_depth}")
    rgb = bit_depth == 24
    raw = {8: np.int8, 16: np.int16, 32: np.float32, 24: np.int32}[bit_depth]
    stack = imp.getStack()
    n = int(stack.getSize())
    if n != n_c * n_z * n_t:
        raise ValueError(f"{imp.getTitle()}: stack of {n} planes does not match C*Z*T = {n_c}*{n_z}*{n_t}")
    out = np.empty((n_t, n_z, n_c, height, width) + ((3,) if rgb else ()), dtype)
    for index in range(n):
        pixels = stack.getPixels(index + 1)
        plane = np.frombuffer(memoryview(pixels), dtype=raw).reshape(height, width)
        c, z, t = index % n_c, (index // n_c) % n_z, index // (n_c * n_z)
        if rgb:
            packed = plane.view(np.uint32)
            target = out[t, z, c]
            target[..., 0] = (packed >> 16) & 0xFF
            target[..., 1] = (packed >> 8) & 0xFF
            target[..., 2] = packed & 0xFF
        else:
            out[t, z, c] = plane.view(dtype)
    keep = [a for a, size in zip("TZC", (n_t, n_z, n_c)) if size > 1]
    axes = "".join(keep) + "YX" + ("S" if rgb else "")
    shape = tuple(size for a, size in zip("TZC", (n_t, n_z, n_c)) if size > 1) + (height, width) + ((3,) if rgb else ())
    return out.reshape(shape), axes, calibration_of(imp)
