"""Which automatic label maps a folder run keeps: Salomon-Sörensen 2023's dataset filter.

Salomon-Sörensen ("Cell Identification from Microscopy Images using Deep Learning on
Automatically Labeled Data", Lund University MSc thesis, 2023) drops the 25 % of images with
the fewest nucleus pixels and every image with more nucleus than background pixels;
:func:`pyfiji_dl.workflows.autolabel.autolabel_folder` applies it and reports each reason in
its label QC.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, OptionError

__all__ = ["select_label_images", "exclusion_reasons", "REASON_NO_OBJECTS", "REASON_TOO_MUCH_FOREGROUND"]

REASON_NO_OBJECTS = "no objects"
REASON_TOO_MUCH_FOREGROUND = "more foreground than background"


def _reason_lowest(lowest_fraction: float) -> str:
    return f"lowest {lowest_fraction * 100:g} % of foreground pixels"


def exclusion_reasons(lowest_fraction: float = 0.25) -> tuple:
    """The reason texts :func:`select_label_images` can give, most important first."""
    return (REASON_NO_OBJECTS, REASON_TOO_MUCH_FOREGROUND, _reason_lowest(lowest_fraction))


def select_label_images(foreground_fractions, lowest_fraction=0.25, *, max_foreground=0.5):
    """Salomon-Sörensen 2023's dataset filter: which automatic label maps to train on.

    Rules, each giving an exclusion reason (the first that applies is reported):

    1. ``"no objects"``: foreground fraction 0.
    2. ``"more foreground than background"``: fraction strictly above
       ``max_foreground`` (0.5: more nucleus than background pixels; exactly
       half is kept).
    3. ``"lowest 25 % of foreground pixels"``: among *all* images given
       (including those excluded by 1-2), the ``floor(lowest_fraction * n)``
       with the smallest fractions. Ties: images with equal fractions are
       treated alike and a tie at the cut-off is kept, i.e. an image is dropped
       only if its fraction is strictly smaller than that of the
       ``(k + 1)``-th smallest. So at most ``floor(lowest_fraction * n)`` images
       are dropped by this rule (none when ``n < 1 / lowest_fraction``), the
       result does not depend on the order of the images, and equal images
       never get different verdicts.

    Parameters
    ----------
    foreground_fractions : sequence of float
        Fraction of pixels inside kept objects, one per image, in [0, 1].
    lowest_fraction : float
        Fraction of the dataset dropped for too little foreground (0 = none).
    max_foreground : float
        Largest allowed foreground fraction.

    Returns
    -------
    list of dict
        One per image, in input order: ``kept`` (bool), ``reason`` (str, empty
        when kept), ``rank`` (1 = least foreground; equal fractions share the
        rank of the first of them).

    Examples
    --------
    >>> [r["reason"] or "kept" for r in select_label_images([0.0, 0.1, 0.2, 0.3, 0.6, 0.12, 0.15, 0.18])]
    ['no objects', 'lowest 25 % of foreground pixels', 'kept', 'kept', 'more foreground than background', 'kept', 'kept', 'kept']
    """
    fractions = np.asarray(list(foreground_fractions), dtype=np.float64).reshape(-1)
    if fractions.size and (not np.all(np.isfinite(fractions)) or fractions.min() < 0 or fractions.max() > 1):
        raise InputError("foreground fractions must be finite numbers in [0, 1]; leave out images that failed.")
    if not 0 <= lowest_fraction < 1:
        raise OptionError(f"lowest_fraction must be in [0, 1), got {lowest_fraction}")
    n = fractions.size
    k = int(math.floor(lowest_fraction * n + 1e-9))
    sorted_f = np.sort(fractions)
    cutoff = sorted_f[k] if k < n else np.inf
    lowest = fractions < cutoff if k > 0 else np.zeros(n, bool)
    ranks = np.searchsorted(sorted_f, fractions, side="left") + 1
    out = []
    for i, f in enumerate(fractions):
        if f == 0:
            reason = REASON_NO_OBJECTS
        elif f > max_foreground:
            reason = REASON_TOO_MUCH_FOREGROUND
        elif lowest[i]:
            reason = _reason_lowest(lowest_fraction)
        else:
            reason = ""
        out.append({"kept": not reason, "reason": reason, "rank": int(ranks[i])})
    return out
