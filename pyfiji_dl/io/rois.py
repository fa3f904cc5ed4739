"""ImageJ ROI files: single ``.roi`` files and ROI Manager ``.zip`` sets.

Reading keeps the ROI Manager's order and each entry's name; every problem is
reported with the file and the entry it comes from. Writing is atomic.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import roifile

from ..errors import OptionError, PyfijiDLError
from .atomic import atomic_path


class RoiFileError(PyfijiDLError, ValueError):
    """A ROI file or zip entry cannot be used; the message names it."""


@dataclass(frozen=True)
class RoiEntry:
    """One ROI as read from disk.

    Attributes
    ----------
    roi : roifile.ImagejRoi
    name : str
        The ROI's own name, else the zip entry (without ``.roi``), as Fiji's ROI
        Manager shows it.
    source : str
        ``file.zip:entry.roi`` or ``file.roi``, for messages.
    index : int
        0-based order in the file (the ROI Manager order).
    """

    roi: roifile.ImagejRoi
    name: str
    source: str
    index: int


def _decode(data: bytes, source: str) -> roifile.ImagejRoi:
    if data[:4] != b"Iout":
        raise RoiFileError(
            f"{source}: not an ImageJ ROI (it does not start with 'Iout'). "
            "Remove this entry or re-save the ROI set from Fiji's ROI Manager (More > Save)."
        )
    try:
        # roifile's default reads 16-bit header values below -5000 as unsigned, as
        # ImageJ's RoiDecoder does
        return roifile.ImagejRoi.frombytes(data)
    except Exception as exc:
        raise RoiFileError(f"{source}: damaged ImageJ ROI ({exc}). Re-save it from Fiji.") from exc


def read_rois(path: str | os.PathLike) -> list[RoiEntry]:
    """Read a ``.roi`` file or a ROI Manager ``.zip``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of RoiEntry
        In file order.

    Raises
    ------
    RoiFileError
        Missing, empty, corrupt or non-ROI content, naming the file and entry.
    """
    path = Path(path)
    if not path.is_file():
        raise RoiFileError(f"{path}: no such file.")
    if path.suffix.lower() == ".roi":
        data = path.read_bytes()
        roi = _decode(data, str(path))
        return [RoiEntry(roi, roi.name or path.stem, str(path), 0)]
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise RoiFileError(
            f"{path}: not a valid zip file ({exc}). A ROI set must be saved from the "
            "ROI Manager with More > Save... as a .zip."
        ) from exc
    entries: list[RoiEntry] = []
    skipped: list[str] = []
    with archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir():
                continue
            if name.startswith("__MACOSX/") or Path(name).name.startswith("._"):
                skipped.append(name)
                continue
            source = f"{path}:{name}"
            if not name.lower().endswith(".roi"):
                raise RoiFileError(
                    f"{source}: this zip entry is not a .roi file. A ROI set zip holds only "
                    "the .roi files the ROI Manager writes; remove the entry."
                )
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise RoiFileError(f"{source}: the zip entry is damaged ({exc}).") from exc
            roi = _decode(data, source)
            stem = Path(name).name[:-4]
            entries.append(RoiEntry(roi, roi.name or stem, source, len(entries)))
    if skipped:
        warnings.warn(f"{path}: ignored {len(skipped)} macOS metadata entries ({skipped[0]}, ...)", stacklevel=2)
    if not entries:
        raise RoiFileError(f"{path}: the zip holds no ROIs.")
    return entries


def unique_entry_names(names: list[str]) -> list[str]:
    """Zip entry names for ``names``: ``.roi`` suffix, duplicates numbered."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = name or "roi"
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.append(f"{base}.roi" if count == 0 else f"{base}-{count + 1}.roi")
    return out


def write_rois(path: str | os.PathLike, rois: list[roifile.ImagejRoi], *, overwrite: bool = True) -> Path:
    """Write ROIs as a ROI Manager zip (or one ``.roi`` file) atomically.

    Entry names are the ROI names, so Fiji's ROI Manager lists them as named here.
    """
    path = Path(path)
    if path.suffix.lower() == ".roi":
        if len(rois) != 1:
            raise OptionError(f"{path}: a .roi file holds exactly one ROI, not {len(rois)}; use .zip.")
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.write_bytes(rois[0].tobytes())
        return path
    names = unique_entry_names([roi.name for roi in rois])
    with atomic_path(path, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, roi in zip(names, rois):
                archive.writestr(name, roi.tobytes())
    return path
