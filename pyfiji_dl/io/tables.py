"""CSV tables that open in Fiji (File > Import > Results...), Excel and pandas."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .atomic import atomic_path


def write_csv(path: str | os.PathLike, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write ``rows`` as a CSV file atomically.

    Parameters
    ----------
    path : path-like
    rows : list of dict
        One dict per row; missing keys are written as empty cells.
    columns : list of str, optional
        Column order; default: keys in order of first appearance.

    Returns
    -------
    Path
    """
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({key: _cell(row.get(key)) for key in columns})
    return Path(path)


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Read a CSV written by :func:`write_csv` (values stay strings)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return value
