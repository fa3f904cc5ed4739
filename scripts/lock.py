"""Write requirements.lock: every package a fresh ``make install`` gets, with its version.

Run by ``make lock`` (``make lock UPGRADE=1`` moves everything to the newest versions that
pyproject.toml allows). uv (github.com/astral-sh/uv) resolves pyproject.toml with the extras
below, once for Python 3.11 and once for 3.10 on Linux x86_64; the two pin sets are merged
into one pip constraints file, with ``python_version`` markers where they differ (pandas 3,
networkx 3.6 or scipy 1.17 need 3.11). Without UPGRADE the pins already in the lock are
kept, so a refresh only adds, drops or moves what pyproject.toml changed.

uv is installed into a throwaway venv (build/lock-tools) on first use; nothing else is
touched. Standard library only: any Python 3.8+ runs this.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
TOOLS = ROOT / "build" / "lock-tools"
UV_VERSION = "0.13.9"
# The extras a developer and CI install (`make install`). gpu is left out: it only adds
# tensorflow[and-cuda], whose NVIDIA wheels TensorFlow 2.15.1 pins exactly itself.
EXTRAS = ("dl", "export", "cluster", "test")
PYTHONS = ("3.11", "3.10")
PLATFORM = "x86_64-manylinux_2_28"  # glibc 2.28+: Debian 10+, Ubuntu 20.04+, RHEL 8+

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")
PY_MARKER = re.compile(r"""^python_version\s*==\s*["'](\d+\.\d+)["']$""")

HEADER = """\
# requirements.lock: the version of every package `make install` installs (a pip constraints
# file: pip install -c requirements.lock -e ".[dl,export,cluster,test]").
# Written by `make lock` (scripts/lock.py, uv pip compile of pyproject.toml with the extras
# {extras}, for Linux x86_64 and Python {pythons}); do not edit by hand.
# `make lock` keeps these pins and changes only what pyproject.toml changed;
# `make lock UPGRADE=1` moves every package to the newest version pyproject.toml allows.
# The gpu extra (NVIDIA only) is not locked: tensorflow[and-cuda]==2.15.1 pins its CUDA wheels.
"""


def read_pins(path: Path) -> dict[str, dict[str, str]]:
    """Pins of a lock file as {python: {name: version}} for each Python in PYTHONS."""
    pins: dict[str, dict[str, str]] = {python: {} for python in PYTHONS}
    if not path.exists():
        return pins
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = PIN.match(line)
        if not match:
            continue
        name, version, marker = match.groups()
        pythons = PYTHONS
        if marker:
            only = PY_MARKER.match(marker.strip())
            if not only:
                raise SystemExit(f"{path}: cannot read the marker of '{line}'")
            pythons = (only.group(1),)
        for python in pythons:
            pins.setdefault(python, {})[name.lower()] = version
    return pins


def find_uv() -> str:
    """uv from $UV, else from the throwaway venv build/lock-tools (installed on first use)."""
    if os.environ.get("UV"):
        return os.environ["UV"]
    uv = TOOLS / "bin" / "uv"
    if not uv.exists():
        print(f"lock: installing uv {UV_VERSION} into {TOOLS.relative_to(ROOT)} (a throwaway venv)")
        venv.create(TOOLS, with_pip=True)
        subprocess.run([str(TOOLS / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        f"uv=={UV_VERSION}"], check=True)
    return str(uv)


def compile_for(uv: str, python: str, preferred: dict[str, str], upgrade: bool) -> dict[str, str]:
    """Resolve pyproject.toml for one Python; ``preferred`` pins are kept where they still fit."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"py{python}.txt"
        # uv takes the pins already in its output file as preferences
        out.write_text("".join(f"{name}=={version}\n" for name, version in sorted(preferred.items())))
        # --no-python-downloads: resolving for a Python needs no such interpreter here
        command = [uv, "pip", "compile", "pyproject.toml", "--quiet", "--no-header", "--no-annotate",
                   "--no-python-downloads",
                   "--python-version", python, "--python-platform", PLATFORM, "-o", str(out)]
        for extra in EXTRAS:
            command += ["--extra", extra]
        if upgrade:
            command.append("--upgrade")
        subprocess.run(command, check=True, cwd=ROOT)
        return read_pins(out)[python]


def merge(by_python: dict[str, dict[str, str]]) -> list[str]:
    """One line per package; a python_version marker only where the Pythons differ."""
    lines = []
    for name in sorted(set().union(*by_python.values())):
        versions = {python: pins.get(name) for python, pins in by_python.items()}
        if len(set(versions.values())) == 1:
            lines.append(f"{name}=={versions[PYTHONS[0]]}")
            continue
        for python in sorted(versions):
            if versions[python]:
                lines.append(f'{name}=={versions[python]} ; python_version == "{python}"')
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions, not the current pins")
    args = parser.parse_args()
    uv = find_uv()
    current = read_pins(LOCK)
    by_python = {python: compile_for(uv, python, current.get(python, {}), args.upgrade) for python in PYTHONS}
    text = HEADER.format(extras=", ".join(EXTRAS), pythons=" and ".join(PYTHONS)) + "\n".join(merge(by_python)) + "\n"
    tmp = LOCK.with_suffix(".lock.tmp")
    tmp.write_text(text)
    os.replace(tmp, LOCK)  # never a half-written lock
    changed = sum(by_python[p].get(n) != current.get(p, {}).get(n)
                  for p in PYTHONS for n in set(by_python[p]) | set(current.get(p, {})))
    print(f"lock: {LOCK.name} written, {len(by_python[PYTHONS[0]])} packages for Python {PYTHONS[0]}, "
          f"{changed} pin(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
