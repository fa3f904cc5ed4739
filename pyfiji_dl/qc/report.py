"""The QC report: one self-contained ``index.html`` next to its tables and pictures.

The report must open anywhere, including years later and offline: inline CSS, no
JavaScript, no network resources, and only relative links to files in its own
folder, so the folder can be zipped, moved or attached to a paper. Every table is
also written as a CSV file (Fiji, Excel, pandas) and linked. Files that do not
exist are never linked; they turn into warnings instead.

The helpers :func:`training_warnings` and :func:`data_warnings` turn the usual
reasons not to trust a model into plain sentences for the report's warning box.
"""

from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..io.atomic import atomic_path
from ..io.tables import write_csv

__all__ = ["write_html_report", "training_warnings", "data_warnings"]

SECTION_KEYS = ("heading", "text", "tables", "pictures", "key_values", "links")
MAX_TABLE_ROWS_SHOWN = 200
# how many standard deviations of epoch-to-epoch noise a new low must undercut the earlier lows by:
# at 2.5, noise around a settled loss passes in about 1 run in 100 at 50 epochs and 4 in 100 at 20
# (synthetic histories); a slow fall of 1 % per window under 0.3 % noise passes in over 9 in 10
_NOISE_SIGMAS = 2.5

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.meta { color: #666; font-size: 0.9em; }
.warnings { border: 2px solid #c62828; background: #fdecea; padding: 0.6em 1.2em; margin: 1.2em 0; }
.warnings h2 { border: none; margin: 0.2em 0; color: #b71c1c; }
.ok { border: 1px solid #2e7d32; background: #edf7ed; padding: 0.4em 1.2em; margin: 1.2em 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td.text, th.text { text-align: left; }
table.kv td { text-align: left; vertical-align: top; }
table.kv td.key { font-weight: 600; white-space: nowrap; }
.scroll { overflow-x: auto; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
code { font-size: 0.9em; }
nav ul { margin: 0.3em 0; }
"""


def write_html_report(out_dir, *, title, sections, warnings=None, filename="index.html"):
    """Write a self-contained HTML QC report and the CSV files of its tables.

    Parameters
    ----------
    out_dir : path-like
        Report folder (created if needed). Pictures and linked files must be in it.
    title : str
    sections : sequence of dict
        Each with ``heading`` (str) and optionally:

        * ``text``: str; blank lines separate paragraphs (plain text, escaped);
        * ``tables``: dict of table name -> list of row dicts; each table is shown
          (the first 200 rows) and written in full to ``<name>.csv`` in
          ``out_dir``, the name made file-system safe (letters, digits, ``._-``;
          other characters become ``_``; a trailing ``.csv`` is not doubled);
        * ``pictures``: list of paths relative to ``out_dir`` (or absolute paths
          inside it), or of ``(caption, path)`` pairs;
        * ``key_values``: dict shown as a two-column table (e.g. provenance,
          configuration); nested values are shown as JSON;
        * ``links``: list of files (relative to ``out_dir``) or ``(label, path)``
          pairs, e.g. the provenance JSON or per-image CSV files.
    warnings : sequence of str, optional
        Shown in a red box at the top (e.g. from :func:`training_warnings` and
        :func:`data_warnings`). Missing pictures and linked files are added here.
    filename : str
        Name of the HTML file.

    Returns
    -------
    Path
        The HTML file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    warnings = [str(w) for w in (warnings or [])]
    used_csv_names = set()
    body = []
    toc = []
    for number, section in enumerate(sections, 1):
        unknown = set(section) - set(SECTION_KEYS)
        if unknown:
            raise ValueError(f"section {number}: unknown keys {sorted(unknown)}; allowed: {SECTION_KEYS}.")
        if "heading" not in section:
            raise ValueError(f"section {number} has no 'heading'.")
        anchor = f"section-{number}"
        heading = str(section["heading"])
        toc.append(f'<li><a href="#{anchor}">{_esc(heading)}</a></li>')
        body.append(f'<section id="{anchor}">\n<h2>{_esc(heading)}</h2>')
        if section.get("text"):
            for paragraph in re.split(r"\n\s*\n", str(section["text"]).strip()):
                body.append(f"<p>{_esc(paragraph)}</p>")
        pictures = section.get("pictures") or []
        if pictures:
            figures = []
            for caption, picture in _labelled(pictures):
                relative = _relative_inside(out_dir, picture)
                if relative is None or not (out_dir / relative).is_file():
                    warnings.append(f"Picture '{picture}' is missing from the report folder; not shown.")
                    continue
                figures.append(
                    f'<figure><img src="{_href(relative)}" alt="{_esc(caption)}">'
                    f"<figcaption>{_esc(caption)}</figcaption></figure>"
                )
            body.append("<div>" + "\n".join(figures) + "</div>")
        # the pictures first: a long table (e.g. the training history) would hide them
        for name, rows in (section.get("tables") or {}).items():
            csv_name = _unique_csv_name(name, used_csv_names)
            rows = list(rows)
            write_csv(out_dir / csv_name, rows)
            body.append(_table_html(str(name), rows, csv_name))
        if section.get("key_values"):
            body.append(_key_value_html(section["key_values"]))
        links = section.get("links") or []
        if links:
            items = []
            for label, target in _labelled(links):
                relative = _relative_inside(out_dir, target)
                if relative is None or not (out_dir / relative).exists():
                    warnings.append(f"Linked file '{target}' is missing from the report folder; not linked.")
                    continue
                items.append(f'<li><a href="{_href(relative)}">{_esc(label)}</a></li>')
            if items:
                body.append("<ul>" + "\n".join(items) + "</ul>")
        body.append("</section>")

    from .. import __version__

    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if warnings:
        warning_html = (
            f'<div class="warnings"><h2>Warnings ({len(warnings)})</h2><ul>'
            + "".join(f"<li>{_esc(w)}</li>" for w in warnings)
            + "</ul></div>"
        )
    else:
        warning_html = '<div class="ok">No warnings.</div>'
    document = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{_esc(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{_esc(title)}</h1>",
            f'<p class="meta">Written {created} by pyfiji_dl {_esc(__version__)}.</p>',
            warning_html,
            "<nav><ul>" + "".join(toc) + "</ul></nav>" if toc else "",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
    path = out_dir / filename
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path


def training_warnings(history_rows, *, min_epochs=10, window=None, tolerance=0.05):
    """Plain-language warnings about a training history.

    Parameters
    ----------
    history_rows : list of dict
        One dict per epoch with ``loss`` and ``val_loss`` (numbers or strings).
    min_epochs : int
        Fewer epochs than this are "very few" (StarDist and CARE usually train
        100-400 epochs).
    window : int, optional
        The "last epochs" inspected; default ``max(3, n_epochs // 10)``.
    tolerance : float
        Relative margin above the lowest validation loss before a rise counts.

    Returns
    -------
    list of str
        Empty when nothing looks wrong. Checks: no history; very few epochs;
        non-finite losses; no validation loss; validation loss rising over the
        last ``window`` epochs while its minimum lies before them (over-fitting);
        validation loss still falling clearly at the end (stopped too early).
    """
    rows = list(history_rows)
    if not rows:
        return ["No training history was recorded: the loss curves cannot be checked."]
    messages = []
    n = len(rows)
    if n < min_epochs:
        messages.append(
            f"Only {n} epoch{'s' if n != 1 else ''} trained: too few to tell whether the loss has "
            f"settled (StarDist/CARE usually train 100-400 epochs)."
        )
    loss = _column(rows, "loss")
    val_loss = _column(rows, "val_loss")
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows)]
    for name, values in (("Training", loss), ("Validation", val_loss)):
        if values is not None and not np.all(np.isfinite(values)):
            first = int(np.flatnonzero(~np.isfinite(values))[0])
            messages.append(
                f"{name} loss is not a finite number from epoch {epochs[first]} on: training diverged "
                "(try a lower learning rate, check the data normalisation)."
            )
    if val_loss is None or not np.any(np.isfinite(val_loss)):
        messages.append("No validation loss was recorded, so over-fitting cannot be detected.")
        return messages
    if window is None:
        window = max(3, n // 10)
    if n < window + 2:
        return messages
    finite = np.where(np.isfinite(val_loss), val_loss, np.nan)
    best = int(np.nanargmin(finite))
    lowest = finite[best]
    tail = finite[-window:]
    tail_slope = _slope(tail)
    margin = tolerance * abs(lowest)
    if best < n - window and tail_slope > 0 and np.nanmean(tail) > lowest + margin:
        train_trend = ""
        if loss is not None and np.all(np.isfinite(loss[-window:])) and _slope(loss[-window:]) < 0:
            train_trend = " while the training loss kept falling"
        messages.append(
            f"Validation loss rose over the last {window} epochs{train_trend} (lowest {lowest:.4g} at "
            f"epoch {epochs[best]}, last {finite[-1]:.4g}): the model is over-fitting. Use the weights "
            "of the best epoch, more training data or stronger augmentation."
        )
    elif tail_slope < 0 and (tail[0] - tail[-1]) > margin:
        messages.append(
            f"Validation loss was still falling clearly over the last {window} epochs "
            f"({tail[0]:.4g} -> {tail[-1]:.4g}): more epochs would probably improve the model."
        )
    return messages


def convergence_diagnosis(history_rows, *, window=None, still_falling=0.02, gap_ratio=0.5, settle=0.02,
                          rise=0.05, new_low=0.005):
    """Whether training converged, from its history, and the time budget that would help.

    Parameters
    ----------
    history_rows : list of dict
        One dict per epoch with ``loss``, ``val_loss`` and ``seconds`` (numbers or
        strings; ``seconds`` is the epoch's duration, as ``training_history.csv`` has it).
    window : int, optional
        The "last epochs" inspected; default ``max(3, n_epochs // 5)``.
    still_falling : float
        Relative drop of the validation loss over the window (of its fitted line)
        above which training had not converged ("train longer").
    gap_ratio : float
        Validation loss this much above the training loss at the end, while the
        validation loss no longer falls and the training loss does: over-fitting.
    settle : float
        Relative margin above the lowest validation loss that counts as reached
        (for the budget that would have been enough).
    rise : float
        Relative rise of the validation loss over the window above its lowest
        (moving average) that counts as over-fitting.
    new_low : float
        Relative margin by which the lowest loss within the window must undercut the
        lowest loss before it for the run to count as still improving ("train
        longer") although its fitted drop is below ``still_falling``: the slow tail
        of a run whose learning rate was lowered on a plateau (the ``learning_rate``
        column). The window is at least 5 epochs here, and the undercut must also
        exceed 2.5 times the epoch-to-epoch noise (the scatter of twice that many
        last losses about a fitted parabola), so that the noise of a settled loss
        does not pass for progress.

    Returns
    -------
    dict
        ``verdict`` (``"converged"``, ``"train longer"``, ``"over-fitting"``,
        ``"diverged"``, ``"too short to tell"`` or ``"unknown"``), ``explanation``,
        ``trained_minutes``, ``best_epoch``, ``suggested_minutes`` (None when no
        duration was recorded) and ``suggestion``.

    Notes
    -----
    Verdicts in order of precedence: diverged (non-finite loss); over-fitting
    (validation loss rising above its lowest, or far above the training loss while
    no longer improving); train longer (loss still falling by more than
    ``still_falling`` over the window, or still reaching clear new lows in it);
    converged.
    """
    rows = list(history_rows)
    result = {"verdict": "unknown", "explanation": "", "epochs": len(rows), "trained_minutes": None,
              "best_epoch": None, "suggested_minutes": None, "suggestion": ""}
    if not rows:
        result["explanation"] = "no training history was recorded"
        return result
    n = len(rows)
    seconds = _column(rows, "seconds")
    cumulative = None
    if seconds is not None and np.all(np.isfinite(seconds)):
        cumulative = np.cumsum(seconds) / 60.0
        result["trained_minutes"] = round(float(cumulative[-1]), 2)
    minutes = result["trained_minutes"]

    def whole_minutes(value):
        return None if value is None else max(1, int(np.ceil(value - 1e-9)))

    loss = _column(rows, "loss")
    val_loss = _column(rows, "val_loss")
    watched = val_loss if val_loss is not None and np.any(np.isfinite(val_loss)) else loss
    name = "validation" if watched is val_loss else "training"
    for values in (loss, val_loss):
        if values is not None and not np.all(np.isfinite(values)):
            result.update(verdict="diverged", explanation="the loss became a non-finite number",
                          suggestion="more time will not help: lower the learning rate or check the normalisation")
            return result
    if watched is None:
        result["explanation"] = "no loss was recorded"
        return result
    if n < 3:
        result.update(verdict="too short to tell",
                      explanation=f"{n} epoch{'s' if n != 1 else ''}: too few to see a trend")
        if minutes is not None:
            result["suggested_minutes"] = whole_minutes(minutes * 10 / n)
            result["suggestion"] = f"about {result['suggested_minutes']} min (ten epochs at this pace)"
        return result
    window = window or max(3, n // 5)
    window = min(window, n - 1)
    best = int(np.argmin(watched))
    lowest = float(watched[best])
    result["best_epoch"] = int(rows[best].get("epoch") or best + 1)
    tail = watched[-window:]
    # the fitted trend over the window, not its two noisy end points
    drop = -_slope(tail) * (len(tail) - 1) / max(abs(float(np.mean(tail))), 1e-12)
    train_falling = loss is not None and _slope(loss[-window:]) < 0
    # a moving average keeps epoch-to-epoch noise from passing for a rise or a plateau
    k = min(5, window)
    smooth = np.convolve(watched, np.ones(k) / k, mode="valid")
    smooth_best = int(np.argmin(smooth))
    smooth_lowest = float(smooth[smooth_best])
    rising = (smooth_best < len(smooth) - window and _slope(tail) > 0
              and float(np.mean(tail)) > smooth_lowest + rise * abs(smooth_lowest))
    gap = None
    if watched is val_loss and loss is not None:
        gap = (float(val_loss[-1]) - float(loss[-1])) / max(abs(float(loss[-1])), 1e-12)
    # Keras' ReduceLROnPlateau halves the learning rate when the loss stalls, which flattens the
    # tail (a small fitted drop) while the run still improves: the window's lowest undercutting
    # everything before it, by more than the noise, says so (over at least 5 epochs: the 3-epoch
    # window of a short run is too short to tell progress from the noise)
    lows_window = min(max(window, 5), n - 1)
    before_lowest = float(np.min(watched[:-lows_window]))
    tail_lowest = float(np.min(watched[-lows_window:]))
    scatter = _scatter(watched[-min(n, max(2 * lows_window, 8)):])
    new_lows = tail_lowest < before_lowest - max(new_low * abs(before_lowest), _NOISE_SIGMAS * scatter)
    flat_or_up = (_slope(tail) >= 0 or drop <= still_falling) and not new_lows
    if rising or (gap is not None and gap > gap_ratio and flat_or_up and train_falling):
        why = (f"validation loss rose after epoch {result['best_epoch']} (lowest {lowest:.4g}, last {tail[-1]:.4g})"
               if rising else f"validation loss {100 * gap:.0f} % above the training loss and no longer falling")
        result.update(verdict="over-fitting", explanation=why + (", while the training loss kept falling"
                                                               if train_falling and rising else ""))
        if cumulative is not None:
            result["suggested_minutes"] = whole_minutes(cumulative[best])
            result["suggestion"] = (f"{result['suggested_minutes']} min reached the best epoch; more time will not "
                                    "help: more training data or stronger augmentation will (the best weights were kept)")
        else:
            result["suggestion"] = "more training data or stronger augmentation (the best weights were kept)"
        return result
    falling = drop > still_falling and _slope(tail) < 0
    if falling or new_lows:
        if falling:
            why = (f"{name} loss still falling at the end: {100 * drop:.1f} % over the last "
                   f"{window} epochs ({tail[0]:.4g} -> {tail[-1]:.4g})")
        else:
            why = (f"{name} loss still reaching new lows in the last {lows_window} epochs (lowest before them "
                   f"{before_lowest:.4g}, lowest in them {tail_lowest:.4g})")
            rates = _column(rows, "learning_rate")
            if rates is not None and np.any(np.isfinite(rates)):
                highest_rate, last_rate = float(np.nanmax(rates)), float(rates[-1])
                if np.isfinite(last_rate) and last_rate < highest_rate * (1 - 1e-6):
                    why += f" although the learning rate was lowered from {highest_rate:.3g} to {last_rate:.3g}"
            why += ": slowly improving, not converged"
        result.update(verdict="train longer", explanation=why)
        if minutes is not None:
            factor = 3 if drop > 0.1 else 2
            result["suggested_minutes"] = whole_minutes(factor * minutes)
            result["suggestion"] = (f"about {result['suggested_minutes']} min ({factor} times this run's "
                                    f"{minutes:.1f} min, e.g. --max-minutes {result['suggested_minutes']})")
        else:
            result["suggestion"] = "more epochs"
        return result
    # the first epoch by which the moving average (over it and the k - 1 before it) is within
    # `settle` of the lowest: the model of that epoch is as good as the run's
    reached = int(np.flatnonzero(smooth <= smooth_lowest + settle * abs(smooth_lowest))[0]) + k - 1
    result.update(verdict="converged",
                  explanation=f"{name} loss settled: within {100 * settle:g} % of its lowest ({lowest:.4g}) "
                              f"from epoch {int(float(rows[reached].get('epoch') or reached + 1))} of {n}")
    if cumulative is not None:
        result["suggested_minutes"] = whole_minutes(cumulative[reached])
        result["suggestion"] = (f"{result['suggested_minutes']} min would have given nearly the same model; "
                                "more time will not help")
    return result


def convergence_key_values(diagnosis: dict) -> dict:
    """The diagnosis as the report's key-value lines."""
    values = {"convergence": diagnosis["verdict"], "why": diagnosis["explanation"]}
    if diagnosis.get("trained_minutes") is not None:
        values["training time (min)"] = diagnosis["trained_minutes"]
    if diagnosis.get("best_epoch") is not None:
        values["best epoch (lowest loss)"] = diagnosis["best_epoch"]
    if diagnosis.get("suggestion"):
        values["budget that would help"] = diagnosis["suggestion"]
    return values


def data_warnings(n_true_objects, shapes_gt, shapes_pred, *, min_images=5, min_objects=50, names=None):
    """Plain-language warnings about an evaluation set.

    Parameters
    ----------
    n_true_objects : int or sequence of int
        Number of ground-truth objects, in total or per image.
    shapes_gt, shapes_pred : sequence of tuple
        Shapes of the ground-truth and predicted images, paired by position.
    min_images : int
        Fewer evaluation images are flagged (5-10 held-out images is the norm).
    min_objects : int
        Fewer ground-truth objects in total are flagged: each object then moves
        precision/recall by several percent.
    names : sequence of str, optional
        Image names for the messages; default: their index.

    Returns
    -------
    list of str
    """
    shapes_gt = [tuple(s) for s in shapes_gt]
    shapes_pred = [tuple(s) for s in shapes_pred]
    names = list(names) if names is not None else [str(i) for i in range(len(shapes_gt))]
    messages = []
    if len(shapes_gt) != len(shapes_pred):
        messages.append(
            f"{len(shapes_gt)} ground-truth images but {len(shapes_pred)} predictions: "
            "they must pair up one to one."
        )
    for name, gt, pred in zip(names, shapes_gt, shapes_pred):
        if gt != pred:
            messages.append(f"Image {name}: ground truth {gt} and prediction {pred} have different shapes.")
    n_images = len(shapes_gt)
    if n_images < min_images:
        messages.append(
            f"Only {n_images} evaluation image{'s' if n_images != 1 else ''}: use at least {min_images} "
            "held-out images (5-10), from fields of view not used for training."
        )
    if np.isscalar(n_true_objects):
        total = int(n_true_objects)
    else:
        per_image = [int(n) for n in n_true_objects]
        total = sum(per_image)
        empty = [names[i] if i < len(names) else str(i) for i, n in enumerate(per_image) if n == 0]
        if empty:
            messages.append(
                f"{len(empty)} image(s) without ground-truth objects ({', '.join(empty[:10])}"
                f"{', ...' if len(empty) > 10 else ''}): every prediction there counts as a false positive."
            )
    if total < min_objects:
        share = f" (one object is {100 / total:.1f} % of recall)" if total else ""
        messages.append(
            f"Only {total} ground-truth object{'s' if total != 1 else ''} in the evaluation set{share}: "
            f"the metrics are uncertain; annotate more (at least {min_objects})."
        )
    return messages


# ---------------------------------------------------------------------------


def _esc(text):
    return html.escape(str(text), quote=True)


def _href(relative):
    return quote(Path(relative).as_posix())


def _labelled(items):
    for item in items:
        if isinstance(item, (tuple, list)) and len(item) == 2:
            yield str(item[0]), item[1]
        else:
            yield Path(item).name, item


def _relative_inside(out_dir, path):
    """``path`` relative to ``out_dir``, or None if it points outside the folder."""
    path = Path(path)
    base = out_dir.resolve()
    full = path.resolve() if path.is_absolute() else (out_dir / path).resolve()
    try:
        return full.relative_to(base)
    except ValueError:
        return None


def _unique_csv_name(name, used):
    name = str(name)
    stem = name[:-4] if name.lower().endswith(".csv") else name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "table"
    candidate, k = f"{stem}.csv", 2
    while candidate.lower() in used:
        candidate, k = f"{stem}_{k}.csv", k + 1
    used.add(candidate.lower())
    return candidate


def _format_cell(value, digits=4):
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def _table_html(name, rows, csv_name):
    columns = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    shown = rows[:MAX_TABLE_ROWS_SHOWN]
    parts = [f'<h3>{_esc(name)} <small>(<a href="{_href(csv_name)}">{_esc(csv_name)}</a>)</small></h3>']
    if not rows:
        parts.append("<p>(empty table)</p>")
        return "\n".join(parts)
    numeric = {
        key: all(isinstance(row.get(key), (int, float, np.number)) or row.get(key) is None for row in shown)
        for key in columns
    }
    header = "".join(f'<th class="{"" if numeric[k] else "text"}">{_esc(k)}</th>' for k in columns)
    body = []
    for row in shown:
        cells = "".join(
            f'<td class="{"" if numeric[k] else "text"}">{_esc(_format_cell(row.get(k)))}</td>' for k in columns
        )
        body.append(f"<tr>{cells}</tr>")
    parts.append(f'<div class="scroll"><table><tr>{header}</tr>\n' + "\n".join(body) + "</table></div>")
    if len(rows) > len(shown):
        parts.append(f"<p>First {len(shown)} of {len(rows)} rows shown; all rows are in the CSV file.</p>")
    return "\n".join(parts)


def _key_value_html(values):
    rows = []
    for key, value in values.items():
        if isinstance(value, (dict, list, tuple)):
            shown = f"<code>{_esc(json.dumps(value, default=str, sort_keys=False))}</code>"
        else:
            shown = _esc(_format_cell(value, digits=10))
        rows.append(f'<tr><td class="key">{_esc(key)}</td><td>{shown}</td></tr>')
    return '<table class="kv">' + "".join(rows) + "</table>"


def _column(rows, key):
    if not any(key in row for row in rows):
        return None
    values = []
    for row in rows:
        value = row.get(key)
        values.append(float("nan") if value in (None, "") else float(value))
    return np.array(values, dtype=float)


def _scatter(values):
    """Epoch-to-epoch noise of a loss curve: its standard deviation about a fitted parabola.

    A parabola, not a line, so that the bend of a loss curve (after a learning-rate
    drop, say) does not count as noise.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 4:
        return 0.0
    x = np.arange(values.size)
    residuals = values - np.polyval(np.polyfit(x, values, 2), x)
    return float(np.sqrt(np.sum(residuals ** 2) / (values.size - 3)))


def _slope(values):
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    if keep.sum() < 2:
        return 0.0
    x = np.arange(values.size)[keep]
    return float(np.polyfit(x, values[keep], 1)[0])


def class_balance_warnings(label_maps, *, low: float = 0.05, high: float = 0.95) -> list:
    """A warning when objects cover very little or almost all of the pixels.

    Pixel accuracy is then dominated by one class (12 % nuclei in the brightfield images of a University of Tartu thesis on U-Net segmentation), so the
    object and pixel precision/recall tables are the numbers to read.
    """
    total = sum(int(np.asarray(m).size) for m in label_maps)
    if not total:
        return []
    fraction = sum(int(np.count_nonzero(m)) for m in label_maps) / total
    if fraction < low or fraction > high:
        return [f"class imbalance: objects cover {100 * fraction:.1f} % of the pixels, so pixel accuracy "
                "mostly measures the larger class; read precision, recall and the object tables instead"]
    return []
