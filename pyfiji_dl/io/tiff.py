"""TIFF in and out, the way ImageJ/Fiji reads and writes it.

Arrays are kept in ImageJ's axis order (a subset of ``TZCYXS``). Calibration (pixel
size, unit, z spacing, frame interval) travels with :class:`ImageInfo` so outputs
open in Fiji with the same scale as their input.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, PyfijiDLError
from .atomic import atomic_path

IMAGEJ_AXES = "TZCYXS"
IMAGEJ_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)
FLOAT32_EXACT_INT = 2**24


class ImageReadError(PyfijiDLError, ValueError):
    """A file could not be read as an image; the message names the file."""


@dataclass(frozen=True)
class Calibration:
    """Physical scale of an image, as ImageJ's *Image > Properties* shows it."""

    pixel_width: float = 1.0
    pixel_height: float = 1.0
    voxel_depth: float = 1.0
    unit: str = "pixel"
    frame_interval: float = 0.0
    time_unit: str = "sec"

    @property
    def is_calibrated(self) -> bool:
        return self.unit not in ("pixel", "") or self.pixel_width != 1.0


@dataclass(frozen=True)
class ImageInfo:
    """What a TIFF holds, without its pixels.

    Attributes
    ----------
    path : Path
    shape : tuple of int
        Array shape in ``axes`` order.
    axes : str
        ImageJ axis letters (subset of ``TZCYXS``, always ending in ``YX`` or ``YXS``).
    dtype : numpy.dtype
    calibration : Calibration
    hyperstack : bool
        Whether ImageJ treats it as a hyperstack (more than one of C, Z, T, or
        flagged so in its metadata).
    """

    path: Path | None
    shape: tuple
    axes: str
    dtype: np.dtype
    calibration: Calibration = Calibration()
    hyperstack: bool = False

    def size(self, axis: str) -> int:
        """Length of ``axis`` (1 if the image has no such axis)."""
        return self.shape[self.axes.index(axis)] if axis in self.axes else 1

    @property
    def yx_shape(self) -> tuple:
        return (self.size("Y"), self.size("X"))


def _normalise_axes(axes: str) -> str:
    """Map tifffile's axis letters onto ImageJ's.

    Multi-page TIFFs that are not ImageJ hyperstacks open in ImageJ as a plain
    stack, i.e. along Z, whatever tifffile calls the page axis.
    """
    out = []
    for letter in axes:
        if letter in IMAGEJ_AXES:
            out.append(letter)
        elif letter in "IQP" and "Z" not in axes and "Z" not in out:
            out.append("Z")
        else:
            raise ImageReadError(f"unsupported axis {letter!r} in axes {axes!r}")
    return "".join(out)


def _calibration_from(tif) -> Calibration:
    meta = tif.imagej_metadata or {}
    page = tif.pages.first
    pixel_width = pixel_height = 1.0
    tags = page.tags
    try:
        if "XResolution" in tags:
            num, den = tags["XResolution"].value
            if num:
                pixel_width = den / num
        if "YResolution" in tags:
            num, den = tags["YResolution"].value
            if num:
                pixel_height = den / num
    except (TypeError, ValueError, ZeroDivisionError):
        pass
    unit = meta.get("unit")
    if unit is None:
        # Plain TIFFs: resolution is per inch/cm, which ImageJ shows as uncalibrated
        # unless the unit tag says centimetre.
        res_unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 1
        unit = "cm" if int(res_unit) == 3 else "pixel"
        if unit == "pixel":
            pixel_width = pixel_height = 1.0
    unit = str(unit).replace("\\u00B5", "\u00b5")
    return Calibration(
        pixel_width=float(pixel_width),
        pixel_height=float(pixel_height),
        voxel_depth=float(meta.get("spacing", 1.0)),
        unit=unit,
        frame_interval=float(meta.get("finterval", 0.0)),
        time_unit=str(meta.get("tunit", "sec")),
    )


def _open(path):
    import tifffile

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file.")
    try:
        return tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises several types on corrupt files
        raise ImageReadError(
            f"{path}: not a readable TIFF ({exc}). Check that it opens in Fiji; "
            "if it does, re-save it there with File > Save As > Tiff..."
        ) from exc


def _require_series(tif, path) -> None:
    if not tif.series or not tif.pages:
        raise ImageReadError(
            f"{path}: not a readable TIFF (it holds no image; the file is probably truncated "
            "or corrupt). Check that it opens in Fiji and re-export it."
        )


def _info_from(tif, path) -> ImageInfo:
    series = tif.series[0]
    try:
        axes = _normalise_axes(series.axes)
    except ImageReadError as exc:
        raise ImageReadError(f"{path}: {exc}") from None
    meta = tif.imagej_metadata or {}
    hyper = bool(meta.get("hyperstack", False)) or sum(
        series.shape[axes.index(a)] > 1 for a in "CZT" if a in axes
    ) > 1
    return ImageInfo(
        path=Path(path),
        shape=tuple(series.shape),
        axes=axes,
        dtype=np.dtype(series.dtype),
        calibration=_calibration_from(tif),
        hyperstack=hyper,
    )


def read_image_info(path: str | os.PathLike) -> ImageInfo:
    """Read shape, axes and calibration of a TIFF without reading its pixels.

    Raises
    ------
    ImageReadError
        If the file is missing or not a TIFF, with a hint for the user.
    """
    with _open(path) as tif:
        _require_series(tif, path)
        return _info_from(tif, path)


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, ImageInfo]:
    """Read a TIFF into an array in ImageJ axis order, with its :class:`ImageInfo`.

    Raises
    ------
    ImageReadError
        If the file is missing, not a TIFF, or truncated.
    """
    with _open(path) as tif:
        _require_series(tif, path)
        info = _info_from(tif, path)
        try:
            data = tif.series[0].asarray()
        except MemoryError:
            megabytes = int(np.prod(info.shape, dtype=np.float64)) * info.dtype.itemsize / 1e6
            raise ImageReadError(
                f"{path}: not enough memory to read its pixels ({megabytes:,.0f} MB). Close other "
                "programs, or cut it into smaller images (in Fiji: Image > Crop).", path=path
            ) from None
        except Exception as exc:
            raise ImageReadError(
                f"{path}: the pixel data cannot be read ({exc}); the file is probably "
                "truncated or corrupt. Re-export it from Fiji."
            ) from exc
    return data.reshape(info.shape), info


class ChannelError(PyfijiDLError, ValueError):
    """An image's channels do not fit what was asked; the message names the file and what to do."""


def select_channel(image: np.ndarray, axes: str, channel: int | None, source, *,
                   all_channels: bool = False) -> tuple[np.ndarray, str]:
    """The channel(s) a command works on: the one rule behind every ``--channel``.

    Parameters
    ----------
    image : ndarray
    axes : str
        ImageJ-style axes of ``image`` (``S`` for RGB samples, ``C`` for channels).
    channel : int or None
        1-based, as Fiji's channel slider numbers them; 0 and channels the image does
        not have are errors (also on an image without a channel axis, which has one
        channel). None takes the only channel; with several channels it is an error
        (nothing is guessed) unless ``all_channels``.
    source : path-like or str
        Named in the messages.
    all_channels : bool
        For multichannel models: with ``channel`` None, keep every channel of a
        multichannel image, moved last (the returned axes end in ``C``).

    Returns
    -------
    image : ndarray
    axes : str
        Without ``C``, except when several channels are kept (then ``C`` is last).

    Raises
    ------
    ChannelError
        RGB images, several channels and no choice, or a channel that does not exist.
    """
    if "S" in axes:
        raise ChannelError(f"{source}: is an RGB image; greyscale channels are needed. In Fiji use "
                           "Image > Type > 8-bit, or Image > Color > Split Channels (or Image > Color > "
                           "RGB to... for a multichannel stack) and save the channel(s) you want.")
    n_channels = image.shape[axes.index("C")] if "C" in axes else 1
    if channel is not None:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
            raise ChannelError(f"{source}: channel must be a whole number (1 = first channel), not {channel!r}.")
        if not 1 <= channel <= n_channels:
            raise ChannelError(f"{source}: has {n_channels} channel(s); channel {channel} does not exist "
                               f"(channels are numbered 1 to {n_channels}, as in Fiji).")
    if "C" not in axes:
        return image, axes
    c_axis = axes.index("C")
    if n_channels > 1 and channel is None:
        if all_channels:
            return np.moveaxis(image, c_axis, -1), axes.replace("C", "") + "C"
        raise ChannelError(f"{source}: has {n_channels} channels; choose one with --channel N "
                           f"(channel=N from Python), N = 1..{n_channels} as in Fiji's channel slider.")
    return np.take(image, (channel or 1) - 1, axis=c_axis), axes.replace("C", "")


def require_intensity_pixels(image: np.ndarray, source) -> np.ndarray:
    """``image`` if it has pixels holding greyscale intensities (whole or real numbers).

    Parameters
    ----------
    image : ndarray
    source : path-like or str
        Named in the messages.

    Raises
    ------
    InputError
        No pixels (a zero-size TIFF), or 1-bit / complex pixels, which intensity
        normalisation and thresholds cannot use; the message says what to do in Fiji.
    """
    image = np.asarray(image)
    if image.size == 0:
        raise InputError(f"{source}: holds no pixels (shape {image.shape}); re-export it from Fiji.")
    if image.dtype == bool or image.dtype.kind not in "uif":
        kind = "1-bit (black and white)" if image.dtype == bool else str(image.dtype)
        raise InputError(f"{source}: has {kind} pixels; greyscale intensities are needed. In Fiji: "
                         "Image > Type > 8-bit (or 16-bit), and save it again.")
    return image


def glasbey_like_lut(n: int = 256, seed: int = 0) -> np.ndarray:
    """A (3, n) uint8 LUT of well-separated colours with black at index 0.

    Colours step around the hue circle by the golden angle while saturation and
    value cycle through three levels, so neighbouring indices look different, like
    Fiji's *glasbey on dark* LUT.
    """
    golden = 0.6180339887498949
    hues = (seed * golden + golden * np.arange(n)) % 1.0
    sat = np.array([1.0, 0.65, 0.85])[np.arange(n) % 3]
    val = np.array([1.0, 0.85, 0.7])[(np.arange(n) // 3) % 3]
    h6 = hues * 6.0
    sector = np.floor(h6).astype(int) % 6
    frac = h6 - np.floor(h6)
    p = val * (1 - sat)
    q = val * (1 - sat * frac)
    t = val * (1 - sat * (1 - frac))
    choices = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)]
    rgb = np.zeros((3, n))
    for k, (r, g, b) in enumerate(choices):
        sel = sector == k
        rgb[0, sel], rgb[1, sel], rgb[2, sel] = r[sel], g[sel], b[sel]
    lut = np.round(rgb * 255).astype(np.uint8)
    lut[:, 0] = 0
    return lut


def write_imagej_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    axes: str,
    *,
    calibration: Calibration | None = None,
    lut: np.ndarray | None = None,
    display_range: tuple[float, float] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write an ImageJ-compatible TIFF atomically.

    Parameters
    ----------
    path : path-like
    data : ndarray
        uint8, uint16, int16 or float32 (what ImageJ TIFFs can hold).
    axes : str
        Axis letters of ``data`` in ImageJ order (subset of ``TZCYXS``).
    calibration : Calibration, optional
        Pixel size, unit, z spacing and frame interval to record.
    lut : ndarray, optional
        (3, 256) uint8 lookup table shown by ImageJ.
    display_range : (min, max), optional
        Display range stored in the ImageJ metadata.
    overwrite : bool

    Returns
    -------
    Path
    """
    import tifffile

    data = np.asarray(data)
    if data.dtype.type not in IMAGEJ_DTYPES:
        raise TypeError(f"ImageJ TIFFs cannot store {data.dtype}; use uint8, uint16, int16 or float32.")
    if len(axes) != data.ndim or any(a not in IMAGEJ_AXES for a in axes):
        raise ValueError(f"axes {axes!r} do not describe an array of shape {data.shape}")
    if "".join(a for a in IMAGEJ_AXES if a in axes) != axes:
        raise ValueError(f"axes {axes!r} are not in ImageJ order {IMAGEJ_AXES}")
    cal = calibration or Calibration()
    metadata: dict = {"axes": axes}
    kwargs: dict = {}
    if cal.unit not in ("pixel", ""):
        metadata["unit"] = cal.unit
        kwargs["resolution"] = (1.0 / cal.pixel_width, 1.0 / cal.pixel_height)
    if "Z" in axes:
        metadata["spacing"] = cal.voxel_depth
    if "T" in axes and cal.frame_interval:
        metadata["finterval"] = cal.frame_interval
        metadata["tunit"] = cal.time_unit
    if lut is not None:
        lut = np.asarray(lut, dtype=np.uint8)
        n_channels = data.shape[axes.index("C")] if "C" in axes else 1
        if n_channels == 1:
            # ImageJ reads a single-channel LUT only from a 768-entry ColorMap tag (as
            # its own TiffEncoder writes it); the 'luts' metadata is for composites.
            kwargs["extratags"] = [(320, "H", 768, (lut.astype(np.uint16) * 257).ravel(), True)]
        else:
            metadata["LUTs"] = [lut] * n_channels
    if display_range is not None:
        metadata["min"], metadata["max"] = map(float, display_range)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data, imagej=True, metadata=metadata, **kwargs)
    return Path(path)


def label_dtype(max_label: int, *, source: str = "label map") -> np.dtype:
    """Smallest ImageJ-compatible dtype that holds ``max_label`` exactly.

    16-bit up to 65,535 labels; beyond that 32-bit float, exact up to 2**24, with a
    warning because some Fiji plugins expect 16-bit label maps.
    """
    if max_label <= np.iinfo(np.uint16).max:
        return np.dtype(np.uint16)
    if max_label <= FLOAT32_EXACT_INT:
        warnings.warn(
            f"{source}: {max_label} labels do not fit 16 bits; writing 32-bit float "
            "(exact up to 16,777,216). Fiji opens it; some plugins want 16-bit.",
            stacklevel=3,
        )
        return np.dtype(np.float32)
    raise InputError(f"{source}: {max_label} labels exceed what ImageJ can store exactly (2**24).")


def write_label_image(
    path: str | os.PathLike,
    labels: np.ndarray,
    axes: str,
    *,
    calibration: Calibration | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a label map that opens in Fiji coloured, calibrated, and exact.

    The dtype is chosen by :func:`label_dtype`; a glasbey-like LUT with a display
    range starting at 0 keeps the map from looking black.
    """
    labels = np.asarray(labels)
    max_label = int(labels.max()) if labels.size else 0
    dtype = label_dtype(max_label, source=str(path))
    return write_imagej_tiff(
        path,
        labels.astype(dtype, copy=False),
        axes,
        calibration=calibration,
        lut=glasbey_like_lut(),
        display_range=(0, max(255, max_label)),
        overwrite=overwrite,
    )


def with_axes(info: ImageInfo, axes: str, shape: tuple) -> ImageInfo:
    """A copy of ``info`` describing an array with other axes and shape."""
    return replace(info, axes=axes, shape=tuple(shape))
