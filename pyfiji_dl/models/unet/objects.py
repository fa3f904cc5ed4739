"""Probabilities -> masks and objects: threshold, connected components, watershed, area filter."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...annotation.objects import filter_by_area
from ..card import ModelCard
from .config import FULL_CONNECTIVITY


def instances(probability: np.ndarray, *, threshold: float = 0.5, min_area: int | None = None,
              max_area: int | None = None, split_touching: bool = False) -> np.ndarray:
    """Objects from a probability map: threshold, connected components, split, area filter.

    Parameters
    ----------
    probability : ndarray
        ``YX`` foreground probability.
    threshold : float
        Pixels with ``probability > threshold`` are foreground.
    min_area, max_area : int, optional
        Keep objects with ``min_area <= pixels <= max_area``.
    split_touching : bool
        Split touching objects by a watershed on the distance map, seeded by its
        maxima of prominence >= 0.5 px (as Fiji's Process > Binary > Watershed).

    Returns
    -------
    ndarray of int32
        Label map, objects numbered 1..n in raster order of their first pixel
        (with ``split_touching``: of their watershed seeds), 8-connected (as Fiji's
        particle analyser).
    """
    from ...annotation.watershed import split_touching as split

    mask = np.asarray(probability) > threshold
    if split_touching:
        labels = split(mask)
    else:
        labels, _ = ndimage.label(mask, structure=FULL_CONNECTIVITY)
    # renumbered keeping the ids' order: a watershed's pieces stay in the order of their seeds
    return filter_by_area(labels, min_area, max_area, order="id").labels


def mean_probabilities(labels: np.ndarray, probability: np.ndarray) -> dict:
    """Mean foreground probability of every object, by label id."""
    if not labels.any():
        return {}
    counts = np.bincount(labels.ravel())
    sums = np.bincount(labels.ravel(), weights=np.asarray(probability, np.float64).ravel())
    ids = np.nonzero(counts)[0]
    return {int(i): float(sums[i] / counts[i]) for i in ids if i}


def postprocess(probability: np.ndarray, card: ModelCard) -> tuple[np.ndarray, np.ndarray, dict]:
    """Mask, objects and their probabilities with the card's post-processing.

    Parameters
    ----------
    probability : ndarray
        ``YX`` probability map.
    card : ModelCard
        Model card: its :class:`~.config.UNetCard` ``threshold``, ``min_area``, ``max_area``, ``split_touching``.

    Returns
    -------
    mask : ndarray of bool
        ``probability > threshold`` (the semantic answer, before the area filter).
    labels : ndarray of int32
        Objects (see :func:`instances`).
    probabilities : dict
        Mean probability by label id.
    """
    post = card.details
    threshold = post.probability_threshold
    labels = instances(probability, threshold=threshold, min_area=post.min_area, max_area=post.max_area,
                       split_touching=bool(post.split_touching))
    return probability > threshold, labels, mean_probabilities(labels, probability)


def annotation_instances(annotation: np.ndarray) -> np.ndarray:
    """Objects of an annotation: label maps as they are, binary masks as connected components.

    A mask with a single non-zero value (0/1, 0/255, or one object) becomes its
    8-connected components, so object metrics and the border weight map see
    separate nuclei (touching nuclei in a binary mask stay one object).
    """
    annotation = np.asarray(annotation)
    values = np.unique(annotation)
    if values.size <= 2:
        labels, _ = ndimage.label(annotation > 0, structure=np.ones((3,) * annotation.ndim, bool))
        return labels.astype(np.int32)
    return annotation.astype(np.int32, copy=False)

