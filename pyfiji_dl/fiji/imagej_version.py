"""Which ImageJ 1.x pyfiji_dl talks to, and the rules that differ between versions.

ImageJ 1.x changes behaviour between versions in ways that matter for exact results.
Each rule below names the ImageJ build that introduced it (``IJ.getFullVersion()``
spelling; commits in imagej/ImageJ on GitHub):

* **ROI Manager positions** (1.54k8, commit 8799326e, ``RoiManager.addRoi``): "Add [t]"
  and ``addRoi(roi)`` keep a ROI's own position and give a ROI *without* a position the
  plane shown (on a stack). Before, "Add [t]" with the image and the manager visible
  replaced every ROI's position with the plane shown, and ``addRoi`` kept positions.
  "Open" of a ROI zip and ``add(imp, roi, n)`` keep positions in both.
* **Rotated rectangles** (1.53u45, ``RotatedRectRoi.makeRectangle``): a 4-vertex polygon
  from the direction vector; before, a 5-vertex freehand polygon from ``atan``/``sin``/
  ``cos``. Matters for spline-fit rotated rectangles (the vertex count and the perimeter
  rule pick the number of spline points).
* **Spline fits** (1.54c28, ``ij.measure.SplineFitter``): Hornbeck's cubic-spline
  recurrence (arXiv:2001.09253) instead of the Numerical Recipes one.
* **Automatic thresholds** (1.54a27-1.54g25, ``ij.process.AutoThresholder``): the
  methods of G. Landini's Auto_Threshold (integer sums, Celebi's Otsu) and a rule for
  images with one or two grey levels ("bilevel").
* **exec() output** (1.54n6, commit 5a2d47f3): the macro function ``exec()`` reads and
  discards the child's standard error, so a command run from a macro must report on
  standard output (``pyfiji-dl --for-imagej`` does).

Nothing here starts Java: :func:`running_version` asks the ImageJ already running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from ..errors import OptionError

__all__ = ["ImageJVersion", "parse_imagej_version", "running_version", "FIJI_IMAGEJ", "DEBIAN_IMAGEJ"]

_PATTERN = re.compile(r"^\s*(\d+)\.(\d+)([a-z]?)(\d*)\s*$")
_IMAGEJ2_PREFIX = re.compile(r"^.*/")  # Fiji's legacy layer reports "2.16.0/1.54p"


@total_ordering
@dataclass(frozen=True)
class ImageJVersion:
    """An ImageJ 1.x version such as ``1.54p`` (a release) or ``1.54k8`` (a daily build).

    Daily builds precede the release with the same letter: ``1.54k8 < 1.54k``. A release's
    ``IJ.getFullVersion()`` ends in ``99`` (``1.53t99``), which parses as the release.
    """

    major: int
    minor: int
    letter: str = ""
    build: int = 99  # 99 = the release itself, as IJ.getFullVersion() spells it

    @property
    def _key(self):
        return (self.major, self.minor, self.letter, self.build)

    def __lt__(self, other: "ImageJVersion | str") -> bool:
        return self._key < parse_imagej_version(other)._key

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = parse_imagej_version(other)
        return isinstance(other, ImageJVersion) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        build = "" if self.build == 99 else str(self.build)
        return f"{self.major}.{self.minor}{self.letter}{build}"

    # ------------------------------------------------------------------ rules
    @property
    def roi_manager_keeps_own_position(self) -> bool:
        """"Add [t]" keeps a ROI's own stack position (else: the plane shown replaces it)."""
        return self >= "1.54k8"

    @property
    def roi_manager_positions_unpositioned(self) -> bool:
        """``addRoi``/"Add [t]" give a ROI without a position the plane shown (stacks)."""
        return self >= "1.54k8"

    @property
    def rotated_rect_is_polygon(self) -> bool:
        """``RotatedRectRoi`` is a 4-vertex polygon (else a closed 5-vertex freehand)."""
        return self >= "1.53u45"

    @property
    def hornbeck_spline(self) -> bool:
        """``SplineFitter`` uses Hornbeck's recurrence (else Numerical Recipes')."""
        return self >= "1.54c28"

    @property
    def landini_thresholds(self) -> bool:
        """``AutoThresholder`` has the 1.54 methods: integer sums, Celebi's Otsu, and
        one- or two-level histograms thresholded below their top level."""
        return self >= "1.54g25"

    @property
    def exec_discards_stderr(self) -> bool:
        """The macro function ``exec()`` reads and drops the child's standard error."""
        return self >= "1.54n6"

    def raster_rules(self):
        """The rasteriser's rules for this version
        (:class:`pyfiji_dl.annotation.rasterize.RasterRules`)."""
        from ..annotation.rasterize import RasterRules

        return RasterRules(rotated_rect_polygon=self.rotated_rect_is_polygon,
                           hornbeck_spline=self.hornbeck_spline)

    def threshold_rules(self) -> str:
        """The ``imagej`` argument of :mod:`pyfiji_dl.annotation.threshold` for this version."""
        return "1.54" if self.landini_thresholds else "1.53"

    def roi_manager_rule(self) -> str:
        """One sentence for users: where a ROI added with 't' lands on a stack."""
        if self.roi_manager_keeps_own_position:
            return ("'Add [t]' keeps a ROI's own slice/frame; a ROI without one gets the "
                    "slice/frame shown (ImageJ 1.54k8 and later)")
        return ("'Add [t]' puts every ROI on the slice/frame shown when the image and the "
                "ROI Manager are visible (ImageJ before 1.54k8)")


def parse_imagej_version(text: "str | ImageJVersion") -> ImageJVersion:
    """``"1.54p"``, ``"1.53t99"``, ``"1.54k8"`` -> :class:`ImageJVersion`.

    Inside Fiji, ImageJ reports ImageJ2's version first (``"2.16.0/1.54p"``); the ImageJ
    1.x part after the slash is the one that counts.

    Raises
    ------
    ValueError
        If ``text`` is not an ImageJ 1.x version.
    """
    if isinstance(text, ImageJVersion):
        return text
    match = _PATTERN.match(_IMAGEJ2_PREFIX.sub("", str(text)))
    if not match:
        raise OptionError(f"not an ImageJ 1.x version: {text!r} (expected e.g. '1.54p' or '1.54k8')")
    major, minor, letter, build = match.groups()
    if int(major) != 1:
        raise OptionError(f"not an ImageJ 1.x version: {text!r} (expected e.g. '1.54p' or '1.54k8')")
    return ImageJVersion(int(major), int(minor), letter, int(build) if build else 99)


FIJI_IMAGEJ = parse_imagej_version("1.54p")
"""The ImageJ 1.x of current Fiji (pom-scijava's ``imagej1.version``): the default rules."""
DEBIAN_IMAGEJ = parse_imagej_version("1.53t")
"""Debian bookworm's ``libij-java``."""


def running_version() -> ImageJVersion:
    """``IJ.getFullVersion()`` of the ImageJ running in this process (starting it if needed)."""
    from . import jvm

    return parse_imagej_version(str(jvm.jimport("ij.IJ").getFullVersion()))
