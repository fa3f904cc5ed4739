"""Real ImageJ as the oracle for ROI rasterisation tests.

Thin wrappers around the JPype calls, so tests read as "ask ImageJ" and the
conversions between Python bytes / numpy and Java arrays live in one place.
"""

from __future__ import annotations

import numpy as np


class ImageJOracle:
    """Decode, encode and fill ROIs with the ImageJ classes on the running JVM.

    Parameters
    ----------
    jimport : callable
        The ``ij`` test fixture: imports a Java class by name.
    """

    def __init__(self, jimport):
        import jpype

        self._jpype = jpype
        self.jimport = jimport
        self.RoiDecoder = jimport("ij.io.RoiDecoder")
        self.RoiEncoder = jimport("ij.io.RoiEncoder")
        self.ByteProcessor = jimport("ij.process.ByteProcessor")
        self._JByteArray = jpype.JArray(jpype.JByte)
        from pyfiji_dl.fiji.imagej_version import parse_imagej_version

        self.version = parse_imagej_version(str(jimport("ij.IJ").getFullVersion()))
        self.rules = self.version.raster_rules()  # fill as this ImageJ fills

    def decode(self, data: bytes, name: str = "roi"):
        """``new RoiDecoder(bytes, name).getRoi()`` (``None`` if ImageJ gives none)."""
        return self.RoiDecoder(self._JByteArray(data), name).getRoi()

    def encode(self, jroi) -> bytes:
        """``RoiEncoder.saveAsByteArray(roi)`` as Python bytes."""
        return bytes(self.RoiEncoder.saveAsByteArray(jroi))

    def fill(self, jroi, width: int, height: int) -> np.ndarray:
        """Pixels ImageJ sets with ``ip.fill(roi)`` on a blank ``width`` x ``height``
        ByteProcessor, as a bool array (rows, columns)."""
        ip = self.ByteProcessor(width, height)
        ip.setValue(255.0)
        ip.fill(jroi)
        pixels = np.frombuffer(memoryview(ip.getPixels()), dtype=np.uint8)
        return pixels.reshape(height, width) != 0

    def fill_bytes(self, data: bytes, width: int, height: int) -> np.ndarray:
        """Decode ``data`` as ImageJ does and fill it (see :meth:`fill`)."""
        jroi = self.decode(data)
        if jroi is None:
            raise AssertionError("ImageJ decoded no ROI")
        return self.fill(jroi, width, height)

    def float_polygon(self, jroi) -> np.ndarray:
        """``roi.getFloatPolygon()`` vertices as float32 array (n, 2)."""
        fp = jroi.getFloatPolygon()
        n = fp.npoints
        xs = np.frombuffer(memoryview(fp.xpoints), dtype=np.float32)[:n]
        ys = np.frombuffer(memoryview(fp.ypoints), dtype=np.float32)[:n]
        return np.stack([xs, ys], axis=1)

    def bounds(self, jroi) -> tuple[int, int, int, int]:
        """``roi.getBounds()`` as (x, y, width, height)."""
        r = jroi.getBounds()
        return int(r.x), int(r.y), int(r.width), int(r.height)

    def mask_at_bounds(self, jroi):
        """``(x, y, mask)`` from ``roi.getBounds()`` and ``roi.getMask()``.

        ``mask`` is a bool array (height, width), all True when ImageJ has no
        mask (plain rectangles). Lets tests check ROIs far outside any canvas.
        """
        x, y, w, h = self.bounds(jroi)
        m = jroi.getMask()
        if m is None:
            return x, y, np.ones((h, w), bool)
        pixels = np.frombuffer(memoryview(m.getPixels()), dtype=np.uint8)
        return x, y, pixels.reshape(m.getHeight(), m.getWidth()) != 0
