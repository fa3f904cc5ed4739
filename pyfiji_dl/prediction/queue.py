"""The review queue over a folder: which images a reviewer should correct first.

A reviewer with twenty minutes should spend them where a review changes most. The
model's own doubt is the guide: an image with many objects of low confidence is more
likely to hold false positives, merged or split nuclei than an image whose objects
are all confident. So every image of a prediction run gets, in ``summary.csv``:

* ``n_low_confidence``: objects whose confidence is below the middle of the model's
  range (halfway between its probability threshold and 1: the vermillion-to-orange
  half of the ROI colour ramp, :mod:`pyfiji_dl.prediction.review`);
* ``mean_confidence`` and ``min_confidence``;
* ``review_rank`` (on the image's ``all`` row): 1 is reviewed first. Images are
  ranked by ``n_low_confidence`` (most first), then by ``mean_confidence`` (lowest
  first), then by name;
* ``input`` (on the ``all`` row): the input file, so *Review Predictions* can open the
  next image of the queue (:func:`next_to_review`).

``review.html`` shows the same ranking with a thumbnail of each image, its objects
outlined in their confidence colours, and links to the ROI set and label map.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..io.tables import read_csv
from ..models.card import ModelCard
from .review import confidence_colour, confidence_floor

REVIEW_PAGE = "review.html"
THUMBNAIL_DIR = "review"
THUMBNAIL_SIZE = 256
REVIEW_COLUMNS = ("n_low_confidence", "mean_confidence", "min_confidence", "review_rank", "input")


def low_confidence_limit(floor: float) -> float:
    """Confidence below which an object counts as low: halfway between ``floor`` and 1."""
    return floor + (1.0 - floor) / 2.0


def confidence_statistics(confidences: list, low: float) -> dict:
    """``n_low_confidence``, ``mean_confidence``, ``min_confidence`` of some objects.

    Objects without a confidence (empty cells) are left out of the mean and minimum
    and are not counted as low.
    """
    known = np.array([float(c) for c in confidences if c not in (None, "")], float)
    return {
        "n_low_confidence": int((known < low).sum()),
        "mean_confidence": float(known.mean()) if known.size else None,
        "min_confidence": float(known.min()) if known.size else None,
    }


def add_review_columns(rows: list[dict], objects_tables: Mapping, card: ModelCard,
                       inputs: Mapping | None = None) -> list[dict]:
    """Summary rows with the review statistics of their image (and frame) and the ranking.

    Parameters
    ----------
    rows : list of dict
        ``summary_rows`` of every image (an ``all`` row per image, then frames).
    objects_tables : mapping
        Image name -> path of its ``objects/NAME.csv``.
    card : ModelCard
        Model card (its probability threshold sets what counts as low).
    inputs : mapping, optional
        Image name -> input path, for the ``input`` column.

    Returns
    -------
    list of dict
        The same rows, in the same order, with :data:`REVIEW_COLUMNS`.
    """
    low = low_confidence_limit(confidence_floor(card))
    by_image: dict = {}
    for row in rows:
        image = row["image"]
        if image not in by_image:
            path = objects_tables.get(image)
            by_image[image] = read_csv(path) if path is not None and Path(path).exists() else []
        objects = by_image[image]
        if row["frame"] != "all":
            objects = [o for o in objects if str(o.get("frame")) == str(row["frame"])]
        row.update(confidence_statistics([o.get("confidence") for o in objects], low))
    whole = [row for row in rows if row["frame"] == "all"]
    ranked = sorted(whole, key=lambda r: (-r["n_low_confidence"],
                                          r["mean_confidence"] if r["mean_confidence"] is not None else 2.0,
                                          r["image"]))
    for rank, row in enumerate(ranked, start=1):
        row["review_rank"] = rank
        if inputs is not None and row["image"] in inputs:
            row["input"] = str(Path(inputs[row["image"]]).resolve())
    return rows


def next_to_review(predictions: str | Path, reviewed: set | None = None) -> dict | None:
    """The best-ranked image of a prediction folder's ``summary.csv`` not reviewed yet.

    Parameters
    ----------
    predictions : path-like
        Output folder of ``pyfiji-dl predict`` (``summary.csv``, ``rois/``).
    reviewed : set of str, optional
        Names (with or without ``.tif``) of images already corrected, e.g. from
        ``corrections.csv``.

    Returns
    -------
    dict or None
        Its ``all`` row of the summary plus ``rois`` (the ROI set, or None when the
        image has no object) and ``remaining`` (images left, this one included);
        None when every image was reviewed.
    """
    predictions = Path(predictions)
    table = predictions / "summary.csv"
    if not table.exists():
        return None
    done = {Path(name).stem for name in (reviewed or ())}
    rows = [r for r in read_csv(table) if r.get("frame") == "all" and r.get("review_rank")]
    queue = sorted((r for r in rows if Path(r["image"]).stem not in done), key=lambda r: int(r["review_rank"]))
    if not queue:
        return None
    row = dict(queue[0])
    rois = predictions / "rois" / f"{Path(row['image']).stem}.zip"
    row["rois"] = str(rois.resolve()) if rois.exists() else None
    row["remaining"] = len(queue)
    return row


def _plane(array: np.ndarray, axes: str) -> np.ndarray:
    """First T/Z plane of an image or label map as ``YX`` (channels averaged)."""
    for axis in "TZ":
        if axis in axes:
            array = np.take(array, 0, axis=axes.index(axis))
            axes = axes.replace(axis, "")
    for axis in "CS":
        if axis in axes:
            array = array.mean(axis=axes.index(axis))
            axes = axes.replace(axis, "")
    return array


def thumbnail(image: np.ndarray, labels: np.ndarray, confidences: Mapping, floor: float,
              size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """RGB picture of a ``YX`` plane with each object outlined in its confidence colour.

    Large planes are subsampled (every n-th pixel) before the outlines are drawn, so
    outlines stay one pixel wide and visible.
    """
    step = max(1, int(np.ceil(max(image.shape) / size)))
    image, labels = image[::step, ::step].astype(float), labels[::step, ::step]
    low, high = np.percentile(image, (1, 99.8)) if image.size else (0.0, 1.0)
    grey = np.clip((image - low) / max(high - low, 1e-12), 0, 1)
    rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=-1)
    edge = np.zeros(labels.shape, bool)
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[1:] |= labels[:-1] != labels[1:]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    edge &= labels > 0
    ids = np.unique(labels[edge])
    palette = np.array([confidence_colour(confidences.get(int(i)), floor) for i in ids], np.uint8).reshape(-1, 3)
    if ids.size:
        rgb[edge] = palette[np.searchsorted(ids, labels[edge])]
    return rgb


def write_review_page(out_dir: Path, rows: list[dict], inputs: Mapping, outputs: Mapping, card: ModelCard) -> Path:
    """``review.html`` and ``review/NAME.png``: images in review order with thumbnails.

    Parameters
    ----------
    out_dir : Path
    rows : list of dict
        Summary rows with :data:`REVIEW_COLUMNS` (from :func:`add_review_columns`).
    inputs : mapping
        Image name -> input path (for the thumbnail).
    outputs : mapping
        Image name -> its ``output_paths`` (label map, ROI set, object table).
    card : ModelCard
    """
    from PIL import Image

    from ..io.tiff import read_image

    out_dir = Path(out_dir)
    floor = confidence_floor(card)
    low = low_confidence_limit(floor)
    whole = sorted((r for r in rows if r["frame"] == "all"), key=lambda r: r["review_rank"])
    lines = []
    for row in whole:
        name = row["image"]
        paths = outputs[name]
        picture = out_dir / THUMBNAIL_DIR / f"{Path(name).stem}.png"
        image, info = read_image(inputs[name])
        labels, label_info = read_image(paths["labels"])
        objects = read_csv(paths["objects"]) if Path(paths["objects"]).exists() else []
        first_frame = {int(o["label"]): float(o["confidence"]) for o in objects
                       if o.get("confidence") not in (None, "") and str(o.get("frame")) == "1"}
        rgb = thumbnail(_plane(image, info.axes), _plane(labels, label_info.axes), first_frame, floor)
        picture.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(picture) as tmp:
            Image.fromarray(rgb).save(tmp, format="PNG")
        mean = "" if row["mean_confidence"] is None else f"{row['mean_confidence']:.2f}"
        links = " ".join(f'<a href="{html.escape(Path(paths[key]).relative_to(out_dir).as_posix())}">{text}</a>'
                         for key, text in (("rois", "ROI set"), ("labels", "label map"), ("objects", "table"))
                         if Path(paths[key]).exists())
        lines.append(
            f"<tr><td class=rank>{row['review_rank']}</td><td>{html.escape(name)}<br>{links}</td>"
            f'<td><img src="{THUMBNAIL_DIR}/{html.escape(picture.name)}" alt="{html.escape(name)}"></td>'
            f"<td>{row['count']}</td><td>{row['n_low_confidence']}</td><td>{mean}</td></tr>"
        )
    ramp = "".join(f'<span style="background:rgb{confidence_colour(c, floor)}">&nbsp;{c:.2f}&nbsp;</span>'
                   for c in np.linspace(floor, 1.0, 5))
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Review queue</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{padding:4px 8px;text-align:left;vertical-align:top}}
tr:nth-child(even){{background:#f3f3f3}} .rank{{font-size:1.4em;font-weight:bold}} img{{image-rendering:pixelated}}</style>
</head><body>
<h1>Review queue</h1>
<p>Images in the order to review them: most objects of low confidence (below {low:.2f}) first, then
lowest mean confidence. Open each ROI set in Fiji's ROI Manager: its objects are listed least
confident first and outlined by confidence: {ramp} (first frame or slice shown).</p>
<table><tr><th>rank</th><th>image</th><th>objects by confidence</th><th>objects</th>
<th>low confidence</th><th>mean confidence</th></tr>
{chr(10).join(lines)}
</table></body></html>
"""
    path = out_dir / REVIEW_PAGE
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
