"""``pyfiji-dl demo``: the main job on bundled data, checked in real ImageJ.

Uses the real DSB2018 nuclei image and its hand-made label map that ship with
StarDist. The label map plays the part of a Fiji annotation: it is turned into a
ROI Manager set, back into a label map, also as a 4-frame time-lapse, and the
outputs are opened in ImageJ to show what a Fiji user would see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def bundled_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The real 512x512 DSB2018 nuclei image and its label map shipped with StarDist."""
    try:
        from stardist.data import test_image_nuclei_2d
    except ImportError as exc:
        raise RuntimeError("the demo data ship with StarDist: pip install -e '.[dl]'") from exc
    image, labels = test_image_nuclei_2d(return_mask=True)
    return image, labels


def run_demo(out_dir: Path) -> int:
    from .annotation.files import labels_file_to_rois, read_label_image, rois_file_to_labels
    from .fiji.imagej1 import imagej_view
    from .io.tiff import write_imagej_tiff, write_label_image

    out_dir = Path(out_dir)
    image, truth = bundled_nuclei()
    n_objects = len(np.unique(truth)) - 1
    print(f"Bundled data: DSB2018 nuclei image {image.shape} {image.dtype}, {n_objects} annotated nuclei "
          f"(label ids up to {truth.max()}).")

    image_path = write_imagej_tiff(out_dir / "images" / "nuclei.tif", image, "YX")
    truth_path = write_label_image(out_dir / "annotations" / "nuclei_labels.tif", truth, "YX")

    n_rois = labels_file_to_rois(truth_path, out_dir / "rois" / "nuclei.zip")
    result = rois_file_to_labels(out_dir / "rois" / "nuclei.zip", out_dir / "masks" / "nuclei.tif", image=image_path)
    back, _ = read_label_image(result.output)
    same = np.array_equal(back, truth)
    print(f"annotation -> ROI Manager set of {n_rois} ROIs -> label map: identical, ids kept: {same}")

    # A 4-frame time-lapse: each frame's ROIs must land on their own frame in Fiji.
    frames = np.stack([np.roll(truth, 16 * k, axis=1) for k in range(4)])
    movie_path = write_imagej_tiff(out_dir / "images" / "nuclei_movie.tif",
                                   np.stack([np.roll(image, 16 * k, axis=1) for k in range(4)]), "TYX")
    movie_labels = write_label_image(out_dir / "annotations" / "nuclei_movie_labels.tif", frames, "TYX")
    n_movie = labels_file_to_rois(movie_labels, out_dir / "rois" / "nuclei_movie.zip")
    movie_back = rois_file_to_labels(out_dir / "rois" / "nuclei_movie.zip", out_dir / "masks" / "nuclei_movie.tif",
                                     image=movie_path)
    movie_same = np.array_equal(read_label_image(movie_back.output)[0], frames)
    print(f"time-lapse: 4 frames -> {n_movie} ROIs -> label stack identical: {movie_same}")

    view = imagej_view(result.output, out_dir / "rois" / "nuclei.zip")
    movie_view = imagej_view(movie_back.output, out_dir / "rois" / "nuclei_movie.zip")
    frames_seen = sorted({roi.position for roi in movie_view.rois})  # a time-lapse is a simple stack
    print("\nWhat ImageJ sees:")
    print(f"  masks/nuclei.tif: {view.bit_depth}-bit, {view.dimensions[0]}x{view.dimensions[1]}, "
          f"highest label {view.max_value:.0f}")
    where = "ROI Manager" if view.via_roi_manager else "RoiDecoder"
    print(f"  rois/nuclei.zip: {len(view.rois)} ROIs in the {where}")
    print(f"  rois/nuclei_movie.zip: {len(movie_view.rois)} ROIs, on frames {frames_seen} "
          f"of a {movie_view.dimensions[4]}-frame stack")
    if view.note:
        print(f"  ({view.note})")
    print(f"\nEverything is in {out_dir.resolve()}:")
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(out_dir)}")
    ok = same and movie_same and len(view.rois) == n_objects and frames_seen == [1, 2, 3, 4]
    if not ok:
        print("\nDEMO FAILED: the outputs are not what they should be.")
    return 0 if ok else 1
