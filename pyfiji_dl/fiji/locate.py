"""Find the ImageJ that pyfiji_dl should drive.

The search order is the one documented in the README:

1. a Fiji folder given explicitly (``fiji=`` / ``--fiji``) or in ``PYFIJI_DL_FIJI``;
   it is started with pyimagej (ImageJ2 with its legacy ImageJ 1.x layer);
2. an ``ij.jar`` given in ``PYFIJI_DL_IJ_JAR``;
3. the ``jars/ij-*.jar`` of a Fiji found in the usual places;
4. Debian's ``/usr/share/java/ij.jar`` (package ``libij-java``).

Cases 2-4 start plain ImageJ 1.x with scyjava. Nothing here starts a JVM.

Fiji layouts (:func:`fiji_root`): the Fiji folder is the one holding ``jars/``,
``plugins/`` and ``macros/``. Current Fiji unpacks as ``Fiji/``, older ones as
``Fiji.app/``; on Linux and Windows the launcher sits in that folder. On macOS the app
bundle of current Fiji is ``Fiji/Fiji.app`` with ``jars/`` *beside* it (the launcher's
``${app-dir}`` is the bundle's parent, fiji/fiji ``config/fiji.toml``), while older
``Fiji.app`` bundles hold ``jars/`` inside. Any of these folders, or the bundle, may be
given.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyfijiDLError

DEBIAN_IJ_JAR = Path("/usr/share/java/ij.jar")
FIJI_FOLDER_NAMES = ("Fiji", "Fiji.app")  # current, older


def _common_fiji_dirs() -> tuple:
    """Where people unpack Fiji, on Linux, macOS and Windows (current name first)."""
    home = Path.home()
    parents = [home, home / "Applications", home / "Desktop", home / "Documents",
               Path("/opt"), Path("/usr/local"), Path("/Applications")]
    for variable in ("LOCALAPPDATA", "ProgramFiles"):
        if os.environ.get(variable):
            parents.append(Path(os.environ[variable]))
    return tuple(parent / name for parent in parents for name in FIJI_FOLDER_NAMES)


COMMON_FIJI_DIRS = _common_fiji_dirs()


class ImageJNotFoundError(PyfijiDLError, RuntimeError):
    """No usable ImageJ or Fiji installation was found."""


@dataclass(frozen=True)
class ImageJInstallation:
    """Where ImageJ lives and how it will be started.

    Attributes
    ----------
    kind : {'fiji', 'ij-jar'}
        ``'fiji'`` starts ImageJ2 from a Fiji.app with pyimagej; ``'ij-jar'`` starts
        plain ImageJ 1.x from a single jar with scyjava.
    path : Path
        The Fiji.app folder or the ij.jar file.
    found_by : str
        Which rule found it, for ``pyfiji-dl doctor`` and error messages.
    classpath : tuple of Path
        Jars to put on the JVM class path (plain ImageJ only).
    """

    kind: str
    path: Path
    found_by: str
    classpath: tuple = field(default=())

    def describe(self) -> str:
        what = "Fiji (ImageJ2, via pyimagej)" if self.kind == "fiji" else "ImageJ 1.x jar (via scyjava)"
        return f"{what} at {self.path} [{self.found_by}]"


def fiji_root(path: str | os.PathLike) -> Path | None:
    """The Fiji folder (the one holding ``jars/``) for ``path``, or ``None``.

    ``path`` may be that folder (``Fiji/``, ``Fiji.app/``) or, on macOS, the app bundle
    of current Fiji, whose ``jars/`` sits beside it (``Fiji/Fiji.app`` -> ``Fiji/``).
    """
    path = Path(path).expanduser()
    if (path / "jars").is_dir():
        return path
    if (path.suffix == ".app" or (path / "Contents").is_dir()) and (path.parent / "jars").is_dir():
        return path.parent
    return None


def _version_key(jar: Path):
    """Sort key of ``ij-1.54p.jar`` by ImageJ version (unparsable names first)."""
    from .imagej_version import parse_imagej_version

    try:
        return (1, parse_imagej_version(jar.stem[len("ij-"):]))
    except ValueError:
        return (0, jar.name)


def fiji_ij_jar(fiji_dir: str | os.PathLike) -> Path | None:
    """The newest ``jars/ij-*.jar`` of a Fiji (any layout :func:`fiji_root` knows)."""
    root = fiji_root(fiji_dir)
    if root is None:
        return None
    jars = [Path(j) for j in glob.glob(str(root / "jars" / "ij-*.jar"))]
    return max(jars, key=_version_key) if jars else None


def _check_fiji_dir(path: Path, found_by: str) -> ImageJInstallation:
    path = path.expanduser()
    if path.is_file() and path.suffix == ".jar":
        return ImageJInstallation("ij-jar", path, found_by, (path,))
    if not path.is_dir():
        raise ImageJNotFoundError(
            f"{found_by}: {path} is not a folder. Give your Fiji folder "
            "('Fiji' or 'Fiji.app', the one that contains 'jars/' and 'plugins/')."
        )
    root = fiji_root(path)
    if root is None:
        inside = [path / name for name in FIJI_FOLDER_NAMES if fiji_root(path / name) is not None]
        hint = (f" It contains {inside[0].name}/: give {inside[0]}." if inside
                else " Give the Fiji folder itself ('Fiji' or 'Fiji.app'; on macOS the app "
                     "or the folder that holds it and 'jars/').")
        raise ImageJNotFoundError(
            f"{found_by}: {path} has no 'jars/' folder, so it is not a Fiji folder." + hint
        )
    return ImageJInstallation("fiji", root, found_by)


def locate_imagej(fiji: str | os.PathLike | None = None) -> ImageJInstallation:
    """Return the ImageJ installation to use, following the documented order.

    Parameters
    ----------
    fiji : path-like, optional
        A Fiji folder (``Fiji/``, ``Fiji.app/``, a macOS app bundle) or an ij.jar chosen
        by the user; wins over everything else.

    Returns
    -------
    ImageJInstallation

    Raises
    ------
    ImageJNotFoundError
        With a hint naming what to install or which variable to set.
    """
    if fiji:
        return _check_fiji_dir(Path(fiji), "--fiji option")
    env_fiji = os.environ.get("PYFIJI_DL_FIJI")
    if env_fiji:
        return _check_fiji_dir(Path(env_fiji), "PYFIJI_DL_FIJI")
    env_jar = os.environ.get("PYFIJI_DL_IJ_JAR")
    if env_jar:
        jar = Path(env_jar).expanduser()
        if not jar.is_file():
            raise ImageJNotFoundError(f"PYFIJI_DL_IJ_JAR: {jar} does not exist.")
        return ImageJInstallation("ij-jar", jar, "PYFIJI_DL_IJ_JAR", (jar,))
    for fiji_dir in COMMON_FIJI_DIRS:
        jar = fiji_ij_jar(fiji_dir)
        if jar is not None:
            return ImageJInstallation("ij-jar", jar, f"ImageJ 1.x jar of {fiji_root(fiji_dir)}", (jar,))
    if DEBIAN_IJ_JAR.is_file():
        return ImageJInstallation("ij-jar", DEBIAN_IJ_JAR, "Debian libij-java", (DEBIAN_IJ_JAR,))
    raise ImageJNotFoundError(
        "No ImageJ found. Either point PYFIJI_DL_FIJI (or --fiji) at your Fiji folder "
        "('Fiji' or 'Fiji.app'), "
        "set PYFIJI_DL_IJ_JAR to an ij.jar, or on Debian/Ubuntu run "
        "'sudo apt-get install libij-java'."
    )
