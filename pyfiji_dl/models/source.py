"""Model sources for ``pyfiji-dl predict``: a model folder, or a package exported from one.

:func:`open_model_source` accepts

* a model folder written by ``pyfiji-dl train`` (returned as it is);
* a BioImage Model Zoo package written by ``pyfiji-dl export --format bioimageio``
  (the zip, or its unpacked folder with ``rdf.yaml``): the zip is unpacked once into
  a cache folder named after its SHA-256, and the folder holding the model folder's
  own files (``pyfiji_dl.json``, ``config.json``, ``thresholds.json``,
  ``weights_best.h5``) is returned, so the model loads exactly as the original.

Anything else gets a message saying what it is and what is supported. Only the
standard library is used here: no TensorFlow, no bioimageio.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from ..models.card import CARD_FILE, ModelFolderError, read_card

FORMAT_MARKER = "pyfiji_dl.bioimageio/1"  # config.pyfiji_dl.format in packages we write
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
CACHE_ENV = "PYFIJI_DL_CACHE_DIR"
SUPPORTED = ("pyfiji-dl predict takes a model folder written by 'pyfiji-dl train' or a package written by "
             "'pyfiji-dl export --format bioimageio'")


class ModelSourceError(ModelFolderError):
    """The path is not a model pyfiji_dl can load; the message says what it is."""


def cache_root() -> Path:
    """Where unpacked packages are kept: ``$PYFIJI_DL_CACHE_DIR``, else ``$XDG_CACHE_HOME/pyfiji_dl``,
    else ``~/.cache/pyfiji_dl``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pyfiji_dl"


def open_model_source(path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The model folder to load for ``path``: a model folder or a pyfiji_dl bioimageio package.

    Parameters
    ----------
    path : path-like
        Model folder, bioimageio package zip written by pyfiji_dl, its unpacked folder,
        or that folder's ``rdf.yaml``.
    cache_dir : path-like, optional
        Where zips are unpacked (default :func:`cache_root`); each package gets
        ``packages/<first 16 hex digits of its SHA-256>/``, written once, atomically.

    Returns
    -------
    Path
        A folder with ``pyfiji_dl.json`` and the model's files, ready for
        ``predict_paths`` / the family adapters.

    Raises
    ------
    ModelSourceError
        A bioimageio package not made by pyfiji_dl, a Fiji SavedModel zip, or a zip
        that is no model (the message says which and what is supported).
    pyfiji_dl.models.card.ModelFolderError
        A missing path or a folder that is not a model.
    """
    path = Path(path)
    if path.is_dir():
        return _open_folder(path)
    if not path.exists():
        raise ModelFolderError(f"{path}: no such model folder or package.")
    if path.name in RDF_NAMES or path.name.endswith(".bioimageio.yaml"):
        return _open_folder(path.parent)
    if not zipfile.is_zipfile(path):
        raise ModelSourceError(f"{path}: not a model folder or a .zip package. {SUPPORTED}.")
    return _open_zip(path, Path(cache_dir) if cache_dir is not None else cache_root())


def _open_folder(folder: Path) -> Path:
    rdf = _find_rdf_file(folder)
    if rdf is not None:
        summary = _rdf_summary(rdf.read_text(encoding="utf-8", errors="replace"))
        if not summary["ours"]:
            raise ModelSourceError(_not_ours(folder, summary))
        if not (folder / CARD_FILE).exists():
            raise ModelSourceError(f"{folder}: a pyfiji_dl bioimageio package without its {CARD_FILE}; the package "
                                   "is incomplete. Export it again with 'pyfiji-dl export --format bioimageio'.")
    read_card(folder)  # the usual clear message when the folder is no model
    return folder


def _find_rdf_file(folder: Path) -> Path | None:
    for name in RDF_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.bioimageio.yaml"))
    return found[0] if found else None


def _open_zip(path: Path, cache: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        rdf_name = _find_rdf_member(names)
        if rdf_name is None:
            raise ModelSourceError(_describe_other_zip(path, names))
        summary = _rdf_summary(archive.read(rdf_name).decode("utf-8", errors="replace"))
    if not summary["ours"]:
        raise ModelSourceError(_not_ours(path, summary))
    if CARD_FILE not in names:
        raise ModelSourceError(f"{path}: a pyfiji_dl bioimageio package without its {CARD_FILE}; the package is "
                               "incomplete. Export it again with 'pyfiji-dl export --format bioimageio'.")
    target = cache / "packages" / _sha256(path)[:16]
    if not (target / CARD_FILE).exists():
        if target.exists():  # only a damaged copy (complete ones appear by rename): replace it
            shutil.rmtree(target, ignore_errors=True)
        _unpack_atomically(path, target)
    read_card(target)
    return target


def _find_rdf_member(names: list) -> str | None:
    for name in RDF_NAMES:
        if name in names:
            return name
    found = sorted(n for n in names if "/" not in n and n.endswith(".bioimageio.yaml"))
    return found[0] if found else None


def _describe_other_zip(path: Path, names: list) -> str:
    roots = {n.split("/")[0] for n in names}
    if "saved_model.pb" in roots:
        return (f"{path}: a TensorFlow SavedModel zip (as 'pyfiji-dl export --format fiji-stardist/fiji-csbdeep' "
                f"writes for the Fiji plugins), not a pyfiji_dl model. Open it in Fiji; {SUPPORTED}.")
    if CARD_FILE in roots:
        return (f"{path}: a zipped pyfiji_dl model folder; unzip it and give the folder, or export it with "
                "'pyfiji-dl export --format bioimageio'.")
    return f"{path}: a zip without rdf.yaml or {CARD_FILE}: not a model. {SUPPORTED}."


def _not_ours(source: Path, summary: dict) -> str:
    what = f"a bioimage.io {summary.get('type') or 'resource'} package"
    if summary.get("name"):
        what += f" '{summary['name']}'"
    if summary.get("format_version"):
        what += f" (format {summary['format_version']})"
    return (f"{source}: {what}, not exported by pyfiji_dl, so pyfiji-dl predict cannot run it. {SUPPORTED}. "
            "Run other bioimage.io models with deepImageJ in Fiji or with bioimageio.core.")


def _rdf_summary(text: str) -> dict:
    """name, type, format_version and whether pyfiji_dl wrote it (``config.pyfiji_dl.format``)."""
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            rdf = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            rdf = None
        if isinstance(rdf, dict):
            ours = ((rdf.get("config") or {}).get("pyfiji_dl") or {}).get("format") == FORMAT_MARKER
            return {"name": rdf.get("name"), "type": rdf.get("type"), "format_version": rdf.get("format_version"),
                    "ours": bool(ours)}
    # no YAML parser (pyfiji_dl installed without its 'export' extra): top-level keys are enough
    def top(key):
        match = re.search(rf"^{key}:\s*['\"]?([^'\"\n]+)", text, flags=re.MULTILINE)
        return match.group(1).strip() if match else None

    return {"name": top("name"), "type": top("type"), "format_version": top("format_version"),
            "ours": FORMAT_MARKER in text}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack_atomically(zip_path: Path, target: Path) -> None:
    """Extract into a temporary folder beside ``target``, then rename it into place.

    A reader never sees a half-unpacked package, and two processes unpacking the
    same package at once both end up with one complete copy.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpacking-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                relative = PurePosixPath(member.filename)
                if relative.is_absolute() or ".." in relative.parts:
                    raise ModelSourceError(f"{zip_path}: unsafe path {member.filename!r} in the package; not unpacked.")
                if member.is_dir():
                    continue
                destination = staging.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
        if target.exists():  # another process finished first: keep its copy
            shutil.rmtree(staging, ignore_errors=True)
            return
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / CARD_FILE).exists():
            raise
