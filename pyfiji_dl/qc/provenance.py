"""Provenance of a trained model: software versions, configuration, data fingerprints.

"Results differ between machines" and "which data was this trained on?" are
answered by a JSON file saved next to every model: the versions of the packages
that matter (read from the installed distributions' metadata, without importing
TensorFlow or StarDist), the training configuration and thresholds, the command
line, and a SHA-256 hash and size of every data file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ..io.atomic import atomic_path

__all__ = ["TRACKED_PACKAGES", "software_versions", "file_sha256", "data_fingerprint", "write_provenance"]

TRACKED_PACKAGES = (
    "pyfiji_dl",
    "numpy",
    "scipy",
    "scikit-image",
    "numba",
    "tensorflow",
    "csbdeep",
    "stardist",
    "n2v",
    "tifffile",
    "roifile",
    "scyjava",
    "pyimagej",
    "matplotlib",
)
"""Distributions whose versions are recorded (None when not installed)."""

PROVENANCE_FORMAT = "pyfiji_dl.provenance/1"
_CHUNK = 1 << 20


def software_versions(packages=TRACKED_PACKAGES):
    """Python, platform and package versions, read from installed metadata.

    Parameters
    ----------
    packages : sequence of str
        Distribution names.

    Returns
    -------
    dict
        ``python``, ``platform`` and one entry per package (its version, or None
        when it is not installed). Nothing is imported, so this is cheap even
        for TensorFlow.
    """
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions.get("pyfiji_dl") is None and "pyfiji_dl" in packages:
        from .. import __version__

        versions["pyfiji_dl"] = __version__  # running from a source tree
    return versions


def file_sha256(path):
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_fingerprint(paths):
    """Hash and size of every data file.

    Parameters
    ----------
    paths : iterable of path-like
        Files, or folders (all files below them, sorted, hidden files skipped).

    Returns
    -------
    list of dict
        ``{"path": str, "sha256": str, "bytes": int}`` per file, in the order
        given (folder contents sorted). Paths are recorded as given (POSIX style).
    """
    rows = []
    for path in _expand(paths):
        rows.append({"path": path.as_posix(), "sha256": file_sha256(path), "bytes": path.stat().st_size})
    return rows


def write_provenance(path, *, config, thresholds=None, data_files=(), command_line=None, extra=None):
    """Write the provenance JSON of a model or result atomically.

    Parameters
    ----------
    path : path-like
        JSON file to write (e.g. ``model_dir / "provenance.json"``).
    config : dict
        Training configuration (NumPy values, paths and tuples are converted).
    thresholds : dict, optional
        Optimised thresholds, e.g. StarDist's ``{"prob": ..., "nms": ...}``.
    data_files : iterable of path-like
        Training/validation/test files or folders to fingerprint.
    command_line : list of str, optional
        The command that produced the model (e.g. ``sys.argv``).
    extra : dict, optional
        Anything else worth keeping (e.g. the data split, the random seed).

    Returns
    -------
    Path
    """
    record = {
        "format": PROVENANCE_FORMAT,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "software": software_versions(),
        "command_line": list(command_line) if command_line is not None else None,
        "config": config,
        "thresholds": thresholds,
        "data": data_fingerprint(data_files),
        "extra": extra,
    }
    text = json.dumps(record, indent=2, default=_jsonable, allow_nan=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _expand(paths):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative_parts = child.relative_to(path).parts
                if child.is_file() and not any(part.startswith(".") for part in relative_parts):
                    yield child
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"data file {path} does not exist.")


def _jsonable(value):
    # NumPy numbers and arrays, paths and sets appear in configs; keep them readable.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return Path(value).as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)
