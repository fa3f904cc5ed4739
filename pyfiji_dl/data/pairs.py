"""Pair files of two folders by file stem, and say exactly what did not pair."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyfijiDLError

IMAGE_SUFFIXES = (".tif", ".tiff")
ROI_SUFFIXES = (".zip", ".roi")


class PairingError(PyfijiDLError, ValueError):
    """Files cannot be paired unambiguously; the message lists them."""


@dataclass
class Pairing:
    """Result of :func:`pair_by_stem`.

    Attributes
    ----------
    pairs : list of (Path, Path)
        Matched files, sorted by stem.
    only_first, only_second : list of Path
        Files with no partner in the other folder.
    """

    pairs: list = field(default_factory=list)
    only_first: list = field(default_factory=list)
    only_second: list = field(default_factory=list)

    def describe_unmatched(self, first_label: str, second_label: str) -> str:
        lines = []
        if self.only_first:
            lines.append(f"{len(self.only_first)} {first_label} without a {second_label}: "
                         + ", ".join(p.name for p in self.only_first))
        if self.only_second:
            lines.append(f"{len(self.only_second)} {second_label} without a {first_label}: "
                         + ", ".join(p.name for p in self.only_second))
        return "\n".join(lines)


def list_files(folder: str | os.PathLike, suffixes: tuple) -> dict[str, Path]:
    """Files of ``folder`` with one of ``suffixes`` (case-insensitive), by stem.

    Hidden files (such as macOS ``._name`` companions) are ignored.

    Raises
    ------
    PairingError
        If the folder is missing or two files share a stem (``a.tif`` and ``a.tiff``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PairingError(f"{folder}: no such folder.")
    by_stem: dict[str, Path] = {}
    clashes = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in by_stem:
            clashes.append(f"{by_stem[path.stem].name} / {path.name}")
        by_stem[path.stem] = path
    if clashes:
        raise PairingError(f"{folder}: several files share a name: {'; '.join(clashes)}. Keep one of each.")
    return by_stem


def pair_by_stem(first: str | os.PathLike, first_suffixes: tuple,
                 second: str | os.PathLike, second_suffixes: tuple) -> Pairing:
    """Pair the files of two folders whose names match exactly except the extension.

    Nothing is guessed: ``img1.tif`` pairs with ``img1.zip`` but not with
    ``RoiSet_img1.zip`` or ``IMG1.zip``.
    """
    a = list_files(first, first_suffixes)
    b = list_files(second, second_suffixes)
    result = Pairing()
    for stem in sorted(a):
        if stem in b:
            result.pairs.append((a[stem], b[stem]))
        else:
            result.only_first.append(a[stem])
    result.only_second = [b[stem] for stem in sorted(b) if stem not in a]
    return result
