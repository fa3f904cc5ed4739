"""Checks, before training, that the annotated objects fit the model.

StarDist describes each object by ``n_rays`` distances from its centre, so objects
must be star-convex and smaller than the training patch. These checks say so, with
numbers, before hours of training are spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import PyfijiDLError


class ObjectsDoNotFitError(PyfijiDLError, ValueError):
    """Annotated objects cannot be learned with the chosen settings."""


@dataclass
class FitReport:
    """What the checks found; ``warnings`` are shown, ``errors`` stop training."""

    n_objects: int = 0
    star_convex_iou: float | None = None
    largest_object: tuple = ()
    median_object: tuple = ()
    foreground_fraction: float = 0.0
    warnings: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "n_objects": self.n_objects,
            "star_convex_reconstruction_iou": self.star_convex_iou,
            "largest_object_extent": list(self.largest_object),
            "median_object_extent": list(self.median_object),
            "foreground_fraction": self.foreground_fraction,
            "warnings": list(self.warnings),
        }


def object_extents(labels: np.ndarray) -> np.ndarray:
    """Bounding-box extent of every object, one row per object (axes as ``labels``)."""
    boxes = [b for b in ndimage.find_objects(labels) if b is not None]
    if not boxes:
        return np.zeros((0, labels.ndim), int)
    return np.array([[s.stop - s.start for s in box] for box in boxes])


def star_convex_reconstruction_iou(label_maps: list, n_rays: int, *, anisotropy=None, max_images: int = 20) -> float:
    """Mean IoU between objects and their ``n_rays`` star-convex reconstruction.

    As StarDist's example notebooks do: each object is rebuilt from its ray
    distances and matched to the original; values near 1 mean StarDist can
    represent the objects, values below ~0.7 mean it cannot do well.
    """
    from stardist import relabel_image_stardist, relabel_image_stardist3D
    from stardist.matching import matching_dataset

    maps = [m for m in label_maps if m.any()][:max_images]
    if not maps:
        return float("nan")
    if maps[0].ndim == 2:
        rebuilt = [relabel_image_stardist(m, n_rays=n_rays) for m in maps]
    else:
        from stardist import Rays_GoldenSpiral

        rays = Rays_GoldenSpiral(n_rays, anisotropy=anisotropy)
        rebuilt = [relabel_image_stardist3D(m, rays) for m in maps]
    stats = matching_dataset(maps, rebuilt, thresh=0, show_progress=False)
    return float(stats.mean_true_score)


def check_objects_fit(label_maps: list, *, n_rays: int, patch_size: tuple, anisotropy=None,
                      names: list | None = None) -> FitReport:
    """Star-convexity, object size vs patch size and field of view, foreground fraction.

    Parameters
    ----------
    label_maps : list of ndarray
        Training label maps (2D or 3D).
    n_rays : int
    patch_size : tuple of int
        Training patch per spatial axis.
    anisotropy : tuple, optional
        For 3D star-convexity.
    names : list of str, optional
        File names for messages.

    Returns
    -------
    FitReport
        ``errors`` is non-empty when training cannot work (objects larger than
        the patch, patch larger than an image).
    """
    names = names or [f"image {i + 1}" for i in range(len(label_maps))]
    report = FitReport()
    extents = [object_extents(m) for m in label_maps]
    all_extents = np.concatenate([e for e in extents if len(e)] or [np.zeros((0, len(patch_size)), int)])
    report.n_objects = int(len(all_extents))
    patch = np.array(patch_size)
    for name, labels in zip(names, label_maps):
        if any(s < p for s, p in zip(labels.shape, patch)):
            report.errors.append(
                f"{name}: image {labels.shape} is smaller than the training patch {tuple(patch)}; "
                "use a smaller --patch (a multiple of 16) or larger images"
            )
    if report.n_objects:
        report.largest_object = tuple(int(v) for v in all_extents.max(axis=0))
        report.median_object = tuple(int(v) for v in np.median(all_extents, axis=0))
        too_big = [(name, e.max(axis=0)) for name, e in zip(names, extents) if len(e) and np.any(e.max(axis=0) > patch)]
        if too_big:
            report.errors.append(
                "objects larger than the training patch "
                f"{tuple(int(p) for p in patch)}: "
                + ", ".join(f"{n} (up to {tuple(int(v) for v in m)})" for n, m in too_big[:5])
                + ". Use a larger --patch, or downscale the images in Fiji (Image > Scale)."
            )
        elif np.any(all_extents.max(axis=0) > patch / 2):
            report.warnings.append(
                f"the largest objects {report.largest_object} exceed half the patch {tuple(int(p) for p in patch)}; "
                "a larger --patch gives the network more context"
            )
        report.star_convex_iou = star_convex_reconstruction_iou(label_maps, n_rays, anisotropy=anisotropy)
        if report.star_convex_iou < 0.7:
            report.warnings.append(
                f"objects are poorly described by {n_rays} rays (reconstruction IoU "
                f"{report.star_convex_iou:.2f} < 0.7): they are not star-convex, or need more --rays"
            )
    foreground = sum(int(np.count_nonzero(m)) for m in label_maps)
    total = sum(m.size for m in label_maps)
    report.foreground_fraction = foreground / total if total else 0.0
    if report.n_objects and report.foreground_fraction < 0.01:
        report.warnings.append(f"objects cover only {100 * report.foreground_fraction:.2f} % of the pixels")
    if report.foreground_fraction > 0.9:
        report.warnings.append(f"objects cover {100 * report.foreground_fraction:.0f} % of the pixels: "
                               "is background annotated as an object?")
    return report
