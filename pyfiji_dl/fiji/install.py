"""``pyfiji-dl fiji install``: put the macros where Fiji (or ImageJ) shows them.

Each command macro is ``macros/common.ijm`` (finding and calling the
``pyfiji-dl`` command) followed by the command's own file from
``macros/commands/``; the ImageJ macro language has no import, so the shared part
is joined in at install time rather than copied by hand into every file.

Installed:

* ``plugins/pyfiji-dl/<Command>.ijm``: one entry each under *Plugins > pyfiji-dl*;
* ``macros/toolsets/pyfiji-dl.ijm``: a toolbar menu (">>" > pyfiji-dl) with the same commands;
* ``plugins/pyfiji-dl/pyfiji-dl.config.txt``: which ``pyfiji-dl`` command to run, and the
  model families it trains (``families=stardist|unet|...`` and their dialog labels,
  ``family_labels=...``, from :mod:`pyfiji_dl.families`), for the macros' choices;
* ``macros/pyfiji-dl/jython/*.py``: scripts for Fiji's default Python (Jython 2.7) with
  ``#@`` parameters, calling the ``pyfiji-dl`` program as the macros do
  (``macros/jython/common.py`` joined in after their parameter lines);
* ``macros/pyfiji-dl/python-mode/*.py``: scripts for the script editor in Fiji's Python
  mode (CPython with pyfiji_dl; they declare ``#@script(language="python")``).

Scripts live under ``macros/``, not ``plugins/``: ImageJ lists every ``.py`` under
``plugins/`` as a menu command and runs it with Jython, where the Python-mode scripts
fail (and the Jython ones would duplicate the menu commands). Nothing but the command
macros and their config is written under ``plugins/``; script files that older versions
put in ``plugins/pyfiji-dl/scripts/`` are removed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .. import families
from ..io.atomic import atomic_path
from .locate import FIJI_FOLDER_NAMES, fiji_root

CONFIG_NAME = "pyfiji-dl.config.txt"
FOLDER = "pyfiji-dl"
# script-editor scripts that older versions installed under plugins/, where they became
# broken menu commands
_OLD_PLUGIN_SCRIPTS = ("labels-from-roi-manager.py", "predict.py", "train-stardist.py")


def macro_sources() -> Path:
    """The ``macros/`` folder: next to the package in a checkout, else installed data."""
    here = Path(__file__).resolve().parents[2] / "macros"
    if (here / "common.ijm").exists():
        return here
    installed = Path(sys.prefix) / "share" / "pyfiji_dl" / "macros"
    if (installed / "common.ijm").exists():
        return installed
    raise FileNotFoundError("the pyfiji-dl macros are missing from this installation; reinstall pyfiji_dl")


def command_path() -> Path:
    """The ``pyfiji-dl`` console script of this Python environment."""
    script = Path(sys.executable).with_name("pyfiji-dl")
    if script.exists():
        return script
    found = shutil.which("pyfiji-dl")
    if found:
        return Path(found)
    raise FileNotFoundError("no 'pyfiji-dl' command next to this Python; install the package with pip first")


def command_names() -> list[str]:
    return sorted(p.stem for p in (macro_sources() / "commands").glob("*.ijm"))


def build_macro(name: str) -> str:
    """The text of one installed command macro (common part + the command)."""
    sources = macro_sources()
    return (sources / "common.ijm").read_text() + "\n" + (sources / "commands" / f"{name}.ijm").read_text()


def build_jython_script(name: str) -> str:
    """One installed Jython script: its ``#@`` parameter lines, the shared part, the rest.

    SciJava reads the parameters from the script's first lines, so they stay on top.
    """
    sources = macro_sources() / "jython"
    lines = (sources / name).read_text().splitlines(keepends=True)
    head = 0
    while head < len(lines) and lines[head].startswith("#@"):
        head += 1
    # choices={PYFIJI_FAMILIES}: the families of the registry, as the macros offer them
    names = ", ".join(f'"{family.name}"' for family in families.REGISTRY.values())
    parameters = "".join(lines[:head]).replace("{PYFIJI_FAMILIES}", "{" + names + "}")
    return parameters + (sources / "common.py").read_text() + "\n" + "".join(lines[head:])


def jython_script_names() -> list[str]:
    return sorted(p.name for p in (macro_sources() / "jython").glob("*.py") if p.name != "common.py")


def imagej_folder(path: str | os.PathLike) -> Path:
    """The Fiji (``Fiji/``, ``Fiji.app/``) or ImageJ folder for ``path``.

    On macOS ``path`` may be the app bundle of current Fiji, whose ``jars/``,
    ``plugins/`` and ``macros/`` sit beside it: the folder holding them is returned
    (:func:`pyfiji_dl.fiji.locate.fiji_root`).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder; give your Fiji folder ('Fiji' or 'Fiji.app') "
                                "or ImageJ folder")
    root = fiji_root(path)
    if root is not None:
        return root
    if not any((path / name).exists() for name in ("ij.jar", "plugins", "macros")):
        inside = [path / name for name in FIJI_FOLDER_NAMES if fiji_root(path / name) is not None]
        hint = f"; it contains {inside[0].name}/, give {inside[0]}" if inside else ""
        raise FileNotFoundError(f"{path}: this is not a Fiji or ImageJ folder (no jars/, ij.jar, plugins/ "
                                f"or macros/ in it){hint}")
    return path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def toolset_text(names: list[str]) -> str:
    """A toolbar menu whose items run the installed command macros."""
    items = ", ".join(f'"{n.replace("_", " ")}"' for n in names)
    return f'''// pyfiji-dl toolset: deep learning from Fiji (installed by 'pyfiji-dl fiji install').
var pyfijiCommands = newMenu("pyfiji-dl Menu Tool", newArray({items}));

macro "pyfiji-dl Menu Tool - C037F0077C0a5F8877C037T1e10d" {{
    name = getArgument();
    file = getDirectory("plugins") + "{FOLDER}" + File.separator + replace(name, " ", "_") + ".ijm";
    runMacro(file);
}}
'''


def config_text(command: Path) -> str:
    """``pyfiji-dl.config.txt``: the program the macros call and the families they offer.

    The macros read it with ``pyfijiConfig(key)``; the family lists are ``|``-separated
    (``split(pyfijiConfig("families"), "|")``), in the registry's order.
    """
    registered = families.REGISTRY.values()
    return (f"command={command}\npython={sys.executable}\n"
            f"families={'|'.join(f.name for f in registered)}\n"
            f"family_labels={'|'.join(f.menu_label for f in registered)}\n")


def install(target: str | os.PathLike, *, command: str | os.PathLike | None = None) -> dict:
    """Install the command macros, the toolset and the config into a Fiji/ImageJ folder.

    Parameters
    ----------
    target : path-like
        The Fiji folder (``Fiji/``, ``Fiji.app/``, on macOS also the app bundle) or an
        ImageJ folder.
    command : path-like, optional
        The ``pyfiji-dl`` executable the macros call (default: this environment's).

    Returns
    -------
    dict
        ``{"commands": [paths], "toolset": path, "config": path, "jython": [paths],
        "scripts": [paths]}`` (``scripts``: the Python-mode scripts).
    """
    root = imagej_folder(target)
    command = Path(command) if command else command_path()
    folder = root / "plugins" / FOLDER
    written = []
    names = command_names()
    for name in names:
        path = folder / f"{name}.ijm"
        _write(path, build_macro(name))
        written.append(path)
    config = folder / CONFIG_NAME
    _write(config, config_text(command))
    toolset = root / "macros" / "toolsets" / f"{FOLDER}.ijm"
    _write(toolset, toolset_text(names))
    scripts_folder = root / "macros" / FOLDER
    jython = []
    for name in jython_script_names():
        jython.append(scripts_folder / "jython" / name)
        _write(jython[-1], build_jython_script(name))
    scripts = []
    for script in sorted((macro_sources() / "scripts").glob("*.py")):
        scripts.append(scripts_folder / "python-mode" / script.name)
        _write(scripts[-1], script.read_text())
    for old in _OLD_PLUGIN_SCRIPTS:
        (folder / "scripts" / old).unlink(missing_ok=True)
    if (folder / "scripts").is_dir() and not any((folder / "scripts").iterdir()):
        (folder / "scripts").rmdir()
    return {"commands": written, "toolset": toolset, "config": config, "jython": jython, "scripts": scripts}
