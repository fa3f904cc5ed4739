"""Find the ImageJ that pyfiji_dl should drive.

The search order is the one documented in the README:

1. a Fiji.app folder given explicitly (``fiji=`` / ``--fiji``) or in ``PYFIJI_DL_FIJI``;
   it is started with pyimagej (ImageJ2 with its legacy ImageJ 1.x layer);
2. an ``ij.jar`` given in ``PYFIJI_DL_IJ_JAR``;
3. the ``jars/ij-*.jar`` of a Fiji.app found in the usual places;
4. Debian's ``/usr/share/java/ij.jar`` (package ``libij-java``).

Cases 2-4 start plain ImageJ 1.x with scyjava. Nothing here starts a JVM.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyfijiDLError

DEBIAN_IJ_JAR = Path("/usr/share/java/ij.jar")
COMMON_FIJI_DIRS = (
    Path.home() / "Fiji.app",
    Path.home() / "Applications" / "Fiji.app",
    Path("/opt/Fiji.app"),
    Path("/Applications/Fiji.app"),
)


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


def _fiji_ij_jar(fiji_dir: Path) -> Path | None:
    jars = sorted(glob.glob(str(fiji_dir / "jars" / "ij-*.jar")))
    return Path(jars[-1]) if jars else None


def _check_fiji_dir(path: Path, found_by: str) -> ImageJInstallation:
    path = path.expanduser()
    if path.is_file() and path.suffix == ".jar":
        return ImageJInstallation("ij-jar", path, found_by, (path,))
    if not path.is_dir():
        raise ImageJNotFoundError(
            f"{found_by}: {path} is not a folder. Give the Fiji.app folder "
            "(the one that contains 'jars/' and 'plugins/')."
        )
    if not (path / "jars").is_dir():
        raise ImageJNotFoundError(
            f"{found_by}: {path} has no 'jars/' folder, so it is not a Fiji.app. "
            "Give the Fiji.app folder itself."
        )
    return ImageJInstallation("fiji", path, found_by)


def locate_imagej(fiji: str | os.PathLike | None = None) -> ImageJInstallation:
    """Return the ImageJ installation to use, following the documented order.

    Parameters
    ----------
    fiji : path-like, optional
        A Fiji.app folder (or an ij.jar) chosen by the user; wins over everything else.

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
        jar = _fiji_ij_jar(fiji_dir)
        if jar is not None:
            return ImageJInstallation("ij-jar", jar, f"ImageJ 1.x jar of {fiji_dir}", (jar,))
    if DEBIAN_IJ_JAR.is_file():
        return ImageJInstallation("ij-jar", DEBIAN_IJ_JAR, "Debian libij-java", (DEBIAN_IJ_JAR,))
    raise ImageJNotFoundError(
        "No ImageJ found. Either point PYFIJI_DL_FIJI (or --fiji) at your Fiji.app, "
        "set PYFIJI_DL_IJ_JAR to an ij.jar, or on Debian/Ubuntu run "
        "'sudo apt-get install libij-java'."
    )
