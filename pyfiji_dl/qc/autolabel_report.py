"""The QC report of automatic labels (``pyfiji-dl autolabel``): table, contact sheet, index.

``autolabel_report/`` (beside the masks folder):

* ``labels_qc.csv``: one row per image (kept yes/no, reason, counts, thresholds);
* ``contact_sheet.png`` (``contact_sheet_2.png``, ... for large folders): a grid of
  thumbnails, the fluorescence after CLAHE with the label outlines in yellow,
  framed green when the map was kept and red when it was excluded, with the
  reason written under it;
* ``index.html``: the QC report (:func:`pyfiji_dl.qc.report.write_html_report`, as a model's)
  linking the table, the pictures and the excluded maps, failed images as warnings;
* ``excluded/``: the label maps that did not pass the QC (written by
  :func:`pyfiji_dl.workflows.autolabel.autolabel_folder`).

Pictures are drawn with Pillow pixel by pixel (no display needed) and every file is
written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..io.tables import write_csv
from .report import write_html_report

__all__ = ["make_thumbnail", "write_contact_sheet", "write_autolabel_report", "THUMBNAIL_SIZE"]

THUMBNAIL_SIZE = 192
"""Longest side of a contact-sheet thumbnail, in pixels."""

PER_PAGE = 80
"""Thumbnails per contact sheet; larger folders get several pages."""

COLUMNS = 8
KEPT_COLOUR = (0, 170, 0)
EXCLUDED_COLOUR = (220, 0, 0)
OUTLINE_COLOUR = (255, 215, 0)
_FRAME = 4
_CAPTION_LINES = 4
_LINE_HEIGHT = 14
_PAD = 6


def make_thumbnail(image01, labels, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A small RGB picture of an image with the outlines of its labels.

    Parameters
    ----------
    image01 : ndarray, 2D
        Image with intensities in 0-1 (values outside are clipped).
    labels : ndarray of int, 2D
        Label map of the same shape; outlines are drawn in yellow.
    size : int
        Longest side of the thumbnail.

    Returns
    -------
    ndarray of uint8, shape (h, w, 3)
        Outlines are found at full resolution and kept visible when shrinking.
    """
    from PIL import Image
    from skimage.segmentation import find_boundaries

    image01 = np.asarray(image01, dtype=np.float64)
    labels = np.asarray(labels)
    if image01.shape != labels.shape or image01.ndim != 2:
        raise ValueError(f"image {image01.shape} and labels {labels.shape} must be the same 2D shape")
    h, w = image01.shape
    scale = min(1.0, size / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    grey = Image.fromarray(np.round(np.clip(np.nan_to_num(image01), 0, 1) * 255).astype(np.uint8))
    grey = np.asarray(grey.resize((tw, th), Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST))
    rgb = np.repeat(grey[..., None], 3, axis=2).copy()
    if labels.any():
        edges = find_boundaries(labels, mode="inner").astype(np.uint8) * 255
        small = np.asarray(Image.fromarray(edges).resize((tw, th), Image.Resampling.BOX))
        # a 1-px outline crossing a thumbnail pixel fills ``scale`` of it: keep half-crossings
        rgb[small >= max(1.0, 0.5 * 255 * scale)] = OUTLINE_COLOUR
    return rgb


def write_contact_sheet(path, thumbnails, captions, kept, *, columns: int = COLUMNS) -> Path:
    """A grid of framed thumbnails with captions, as a PNG.

    Parameters
    ----------
    path : path-like
    thumbnails : list of ndarray (h, w, 3) uint8 or None
        None draws a grey placeholder (an image that could not be read).
    captions : list of list of str
        Lines under each thumbnail, each shortened to fit; the last one (the
        verdict) is drawn in the frame colour and may wrap onto a second line.
    kept : list of bool
        Frame green (kept) or red (excluded).
    columns : int

    Returns
    -------
    Path
    """
    from PIL import Image, ImageDraw

    n = len(thumbnails)
    if not (n == len(captions) == len(kept)):
        raise ValueError("thumbnails, captions and kept must have the same length")
    cell_w = THUMBNAIL_SIZE + 2 * _FRAME + 2 * _PAD
    cell_h = THUMBNAIL_SIZE + 2 * _FRAME + 2 * _PAD + _CAPTION_LINES * _LINE_HEIGHT
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for k, (thumb, caption, ok) in enumerate(zip(thumbnails, captions, kept)):
        x0 = (k % columns) * cell_w + _PAD
        y0 = (k // columns) * cell_h + _PAD
        colour = KEPT_COLOUR if ok else EXCLUDED_COLOUR
        if thumb is None:
            thumb = np.full((THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3), 200, np.uint8)
        thumb = np.asarray(thumb, dtype=np.uint8)
        th, tw = thumb.shape[:2]
        box_w, box_h = tw + 2 * _FRAME, th + 2 * _FRAME
        # centre the framed thumbnail in its square slot
        bx = x0 + (THUMBNAIL_SIZE + 2 * _FRAME - box_w) // 2
        by = y0 + (THUMBNAIL_SIZE + 2 * _FRAME - box_h) // 2
        draw.rectangle([bx, by, bx + box_w - 1, by + box_h - 1], fill=colour)
        sheet.paste(Image.fromarray(thumb), (bx + _FRAME, by + _FRAME))
        ty = y0 + THUMBNAIL_SIZE + 2 * _FRAME + 2
        width = cell_w - 2 * _PAD
        caption = list(caption)
        # name and numbers on one line each (shortened); the verdict may wrap onto the rest
        lines = [(_fit(draw, font, line, width), (30, 30, 30)) for line in caption[:-1]]
        if caption:
            room = max(1, _CAPTION_LINES - len(lines))
            lines += [(line, colour) for line in _wrap(draw, font, caption[-1], width, room)]
        for i, (line, fill) in enumerate(lines[:_CAPTION_LINES]):
            draw.text((x0, ty + i * _LINE_HEIGHT), line, fill=fill, font=font)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG", optimize=False)
    return Path(path)


def write_autolabel_report(report_dir, rows, *, parameters=None, thumbnails=None, per_page: int = PER_PAGE) -> dict:
    """Write ``labels_qc.csv`` and, with thumbnails, the contact sheet(s) and ``index.html``.

    Parameters
    ----------
    report_dir : path-like
    rows : list of dict
        One per image, with at least ``file``, ``kept`` ("yes"/"no"), ``reason``,
        ``n_objects``, ``foreground_fraction`` and ``error``; written in this order
        and column order.
    parameters : dict, optional
        Settings shown in ``index.html``.
    thumbnails : list of (ndarray or None), optional
        One per row (from :func:`make_thumbnail`); None in the list for images
        that failed. Without this argument only the CSV is written.
    per_page : int
        Thumbnails per contact sheet.

    Returns
    -------
    dict
        ``csv`` (Path), and with thumbnails ``contact_sheets`` (list of Path) and
        ``index`` (Path).
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    out = {"csv": write_csv(report_dir / "labels_qc.csv", rows, columns=list(rows[0]) if rows else None)}
    if thumbnails is None:
        return out
    if len(thumbnails) != len(rows):
        raise ValueError("one thumbnail (or None) per row is needed")
    captions = [_caption(row) for row in rows]
    kept = [row.get("kept") == "yes" for row in rows]
    sheets = []
    for page, start in enumerate(range(0, max(len(rows), 1), per_page), start=1):
        name = "contact_sheet.png" if page == 1 else f"contact_sheet_{page}.png"
        stop = start + per_page
        if rows:
            sheets.append(write_contact_sheet(report_dir / name, thumbnails[start:stop], captions[start:stop],
                                              kept[start:stop]))
    # remove pages of an earlier, larger run so the index never links stale pictures
    for stale in report_dir.glob("contact_sheet_*.png"):
        if stale not in sheets:
            stale.unlink()
    out["contact_sheets"] = sheets
    out["index"] = _write_index(report_dir, rows, sheets, parameters or {})
    return out


def _caption(row) -> list:
    name = str(row.get("file", ""))
    if row.get("error"):
        return [name, "", f"failed: {row.get('reason') or 'error'}"]
    n = row.get("n_objects")
    fraction = row.get("foreground_fraction")
    stats = f"{n} objects, {float(fraction) * 100:.1f} % fg" if fraction not in (None, "") else ""
    verdict = "kept" if row.get("kept") == "yes" else f"excluded: {row.get('reason', '')}"
    return [name, stats, verdict]


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=11)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def _fit(draw, font, text: str, width: int) -> str:
    """``text`` shortened with an ellipsis in the middle to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    keep = len(text)
    while keep > 4:
        keep -= 1
        head = (keep + 1) // 2
        tail = keep - head
        candidate = text[:head] + "\u2026" + (text[-tail:] if tail else "")
        if draw.textlength(candidate, font=font) <= width:
            return candidate
    return text[:4] + "\u2026"


def _wrap(draw, font, text: str, width: int, max_lines: int) -> list:
    """Greedy word wrap into at most ``max_lines`` lines; the last one shortened if needed."""
    words = text.split()
    lines: list = []
    current = ""
    for k, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > width:
            if len(lines) == max_lines - 1:
                return lines + [_fit(draw, font, " ".join([current] + words[k:]), width)]
            lines.append(current)
            current = word
        else:
            current = candidate
    return lines + [_fit(draw, font, current, width)] if current or not lines else lines


def _write_index(report_dir: Path, rows: list, sheets: list, parameters: dict) -> Path:
    n_kept = sum(row.get("kept") == "yes" for row in rows)
    failed = [row for row in rows if row.get("error")]
    excluded = [row for row in rows if row.get("kept") != "yes" and not row.get("error")]
    reasons: dict = {}
    for row in excluded:
        reasons[row.get("reason", "")] = reasons.get(row.get("reason", ""), 0) + 1
    summary = (f"{len(rows)} images: {n_kept} kept (label maps in the masks folder), {len(excluded)} excluded"
               + (" (" + ", ".join(f"{c} {r}" for r, c in reasons.items()) + ")" if reasons else "")
               + (f", {len(failed)} failed" if failed else "") + ".")
    links = [("labels_qc.csv: one row per image", "labels_qc.csv")]
    if excluded:
        summary += " Move an excluded label map into the masks folder to train on it after all."
        links.append(("excluded/: the excluded label maps", "excluded"))
    sections = [{"heading": "Images", "text": summary, "links": links}]
    if parameters:
        sections.append({"heading": "Settings", "key_values": parameters})
    if sheets:
        what = "Fluorescence after CLAHE" if parameters.get("clahe", True) else "Fluorescence"
        sections.append({
            "heading": "Contact sheet",
            "text": f"{what}, label outlines in yellow; green frame = kept, red frame = excluded (reason under the "
                    "picture).",
            "pictures": [(f"contact sheet {k} of {len(sheets)}", sheet.name) for k, sheet in enumerate(sheets, 1)],
            "links": [(f"{sheet.name} (full size)", sheet.name) for sheet in sheets],
        })
    warnings = [f"{row.get('file')} failed: {row.get('error')}" for row in failed]
    return write_html_report(report_dir, title="Automatic labels: QC", sections=sections, warnings=warnings)
