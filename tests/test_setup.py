"""The setup itself: finding a usable Python before anything is installed, the lock file
agreeing with pyproject.toml and the README, and pip failures explained.

The Python finder (scripts/find-python.sh) runs against made-up PATHs holding fake
``python3.x`` programs that answer its probe like a real interpreter would, so each host
(3.12 only, 3.11 beside 3.12, none, pyenv- or uv-managed) is simulated on any machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FINDER = ROOT / "scripts" / "find-python.sh"
LOCK = ROOT / "requirements.lock"
BASH = shutil.which("bash")
ADVICE_MARKS = ("deadsnakes", "brew install python@3.11", "py -3.11", "uv python install 3.11",
                "conda env create -f environment.yml")


def fake_python(folder: Path, name: str, version: str, calls: Path, reported_path: str | None = None) -> Path:
    """A program named ``name`` that answers the finder's probe as Python ``version`` would;
    any other use (``-m venv``, ``-m pip``) is recorded in ``calls`` and fails."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    reported = reported_path or str(program)
    program.write_text(
        f"#!{BASH}\n"
        f'if [ "$1" = "-c" ]; then printf "%s\\n" "{version}" "{reported}" venv; exit 0; fi\n'
        f'echo "$0 $*" >> "{calls}"\n'
        "exit 1\n")
    program.chmod(0o755)
    return program


def tools_folder(tmp_path: Path) -> Path:
    """The few programs the finder and make need, without any real Python beside them."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for name in ("bash", "sort", "make", "sh"):
        found = shutil.which(name)
        if found and not (tools / name).exists():
            (tools / name).symlink_to(found)
    return tools


def run_finder(tmp_path: Path, fakes: Path, *args: str, python: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": f"{fakes}:{tools_folder(tmp_path)}", "HOME": str(tmp_path), "PYTHON": python}
    return subprocess.run([BASH, str(FINDER), *args], capture_output=True, text=True, env=env, timeout=60)


def test_only_python312_stops_with_advice_before_installing(tmp_path):
    """`make install` on a host whose only Python is 3.12: advice, no venv, no pip."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    calls = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    fake_python(fakes, "python3", "3.12.3", calls, "/usr/bin/python3.12")
    fake_python(fakes, "python3.12", "3.12.3", calls, "/usr/bin/python3.12")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for part in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / part, checkout / part)
    shutil.copytree(ROOT / "scripts", checkout / "scripts")
    (checkout / "pyfiji_dl").mkdir()
    shutil.copy(ROOT / "pyfiji_dl" / "python_advice.txt", checkout / "pyfiji_dl")
    env = {"PATH": f"{fakes}:{tools_folder(tmp_path)}", "HOME": str(tmp_path)}

    result = subprocess.run(["make", "install"], cwd=checkout, capture_output=True, text=True, env=env, timeout=60)

    assert result.returncode != 0
    assert "No Python 3.10 or 3.11 found" in result.stderr
    assert "Python 3.12.3 at /usr/bin/python3.12" in result.stderr
    for mark in ADVICE_MARKS:
        assert mark in result.stderr
    assert not (checkout / ".venv").exists()
    assert not calls.exists(), f"the 3.12 Python was used beyond the probe: {calls.read_text()}"


def test_python311_beside_312_is_chosen(tmp_path):
    calls = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    fake_python(fakes, "python3", "3.12.3", calls)
    chosen = fake_python(fakes, "python3.11", "3.11.9", calls)

    result = run_finder(tmp_path, fakes)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(chosen)
    assert "Python 3.11.9" in result.stderr


def test_python310_is_accepted(tmp_path):
    fakes = tmp_path / "bin"
    chosen = fake_python(fakes, "python3", "3.10.14", tmp_path / "calls.log")

    result = run_finder(tmp_path, fakes)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(chosen)


def test_no_python_at_all_gives_advice(tmp_path):
    fakes = tmp_path / "bin"
    fakes.mkdir()

    result = run_finder(tmp_path, fakes)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "No Python 3.10 or 3.11 found" in result.stderr
    for mark in ADVICE_MARKS:
        assert mark in result.stderr


def test_explicit_python312_is_refused_and_the_usable_one_named(tmp_path):
    calls = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    too_new = fake_python(fakes, "python3.12", "3.12.3", calls)
    usable = fake_python(fakes, "python3.11", "3.11.9", calls)

    result = run_finder(tmp_path, fakes, python=str(too_new))

    assert result.returncode == 1
    assert result.stdout == ""
    assert "cannot use it" in result.stderr
    assert f"make PYTHON={usable}" in result.stderr
    for mark in ADVICE_MARKS:
        assert mark in result.stderr


def test_explicit_usable_python_wins(tmp_path):
    fakes = tmp_path / "bin"
    fake_python(fakes, "python3.11", "3.11.9", tmp_path / "calls.log")
    named = fake_python(tmp_path / "elsewhere", "python", "3.10.14", tmp_path / "calls.log")

    result = run_finder(tmp_path, fakes, python=str(named))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(named)


def test_pyenv_managed_python_newest_patch_is_found(tmp_path):
    """Only 3.12 on PATH, pyenv has 3.11.4 and 3.11.10 installed (not active)."""
    calls = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    fake_python(fakes, "python3", "3.12.3", calls)
    root = tmp_path / "pyenv"
    fake_python(root / "versions" / "3.11.4" / "bin", "python3.11", "3.11.4", calls)
    newest = fake_python(root / "versions" / "3.11.10" / "bin", "python3.11", "3.11.10", calls)
    pyenv = fakes / "pyenv"
    pyenv.write_text(f'#!{BASH}\n[ "$1" = root ] && echo "{root}"\n')
    pyenv.chmod(0o755)

    result = run_finder(tmp_path, fakes)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(newest)


def test_uv_managed_python_is_found(tmp_path):
    calls = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    fake_python(fakes, "python3", "3.13.1", calls)
    managed = fake_python(tmp_path / "uv-python" / "bin", "python3.11", "3.11.12", calls)
    uv = fakes / "uv"
    uv.write_text(f'#!{BASH}\n[ "$1 $2 $3" = "python find 3.11" ] && echo "{managed}" && exit 0\nexit 2\n')
    uv.chmod(0o755)

    result = run_finder(tmp_path, fakes)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(managed)


def test_check_rejects_a_venv_with_the_wrong_python(tmp_path):
    calls = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    old = fake_python(tmp_path / "venv312" / "bin", "python", "3.12.3", calls)
    good = fake_python(tmp_path / "venv311" / "bin", "python", "3.11.9", calls)
    fakes.mkdir()

    assert run_finder(tmp_path, fakes, "--check", str(old)).returncode == 1
    assert run_finder(tmp_path, fakes, "--check", str(good)).returncode == 0
    assert run_finder(tmp_path, fakes, "--check", str(tmp_path / "missing")).returncode == 1


# --- the lock --------------------------------------------------------------------------

def load_lock_script():
    spec = importlib.util.spec_from_file_location("pyfiji_dl_lock_script", ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in load_lock_script().EXTRAS:
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return requirements


@pytest.mark.parametrize("python", ["3.10", "3.11"])
def test_lock_pins_every_direct_dependency_within_pyproject(python):
    pins = {canonicalize_name(name): version for name, version in load_lock_script().read_pins(LOCK)[python].items()}
    environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    problems = []
    for requirement in direct_requirements():
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not in requirements.lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"requirements.lock pins {name}=={pins[name]}, pyproject.toml wants {requirement}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


def test_lock_is_in_the_form_make_lock_writes():
    """No hand edits: reading the lock and writing it back gives the same pins, each line
    either unmarked (both Pythons) or marked with one python_version."""
    script = load_lock_script()
    body = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert body == script.merge(script.read_pins(LOCK))
    for line in body:  # a marker, where there is one, picks exactly one of the two Pythons
        if ";" in line:
            marker = Marker(line.split(";", 1)[1])
            assert marker.evaluate({"python_version": "3.10"}) != marker.evaluate({"python_version": "3.11"}), line


def test_readme_versions_are_the_locked_ones():
    """The README's table of what a fresh install gets says what the lock pins."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- locked-versions -->")[1]
    rows = re.findall(r"^\| `([A-Za-z0-9._-]+)` \| ([0-9][^ |]*) \|", section, re.MULTILINE)
    assert len(rows) >= 8
    pins = {canonicalize_name(n): v for n, v in load_lock_script().read_pins(LOCK)["3.11"].items()}
    wrong = [f"{name} {version} (lock: {pins.get(canonicalize_name(name))})" for name, version in rows
             if name != "python" and pins.get(canonicalize_name(name)) != version]
    assert not wrong, "README lists other versions than requirements.lock: " + ", ".join(wrong)


# --- pip failures ----------------------------------------------------------------------

def test_unreachable_index_is_explained_without_a_traceback(tmp_path):
    """An index nobody answers on (a closed loopback port): which index, which package,
    what to do; exit 1, no traceback. --dry-run: nothing is installed. A name the index does
    not have is told apart from an index that does not answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_INSTALL_LOG"] = str(tmp_path / "pip-install.log")
    command = [sys.executable, str(ROOT / "scripts" / "pip_install.py"), "--dry-run", "--ignore-installed",
               "--no-deps", "--no-cache-dir", "--index-url", "http://127.0.0.1:9/simple",
               "--retries", "1", "--timeout", "5", "roifile==2023.8.30"]

    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    assert result.returncode == 1
    assert "could not reach the package index at 127.0.0.1 while fetching roifile" in result.stderr
    assert "PIP_INDEX_URL=" in result.stderr and "HTTPS_PROXY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert (tmp_path / "pip-install.log").read_text().count("127.0.0.1") > 0

    missing = command[:-1] + ["a-name-no-index-has-zq"]
    missing[missing.index("http://127.0.0.1:9/simple")] = "file://" + str(tmp_path / "empty-index")
    (tmp_path / "empty-index").mkdir()
    result = subprocess.run(missing, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert "offered no release of a-name-no-index-has-zq" in result.stderr
    assert "could not reach" not in result.stderr and "Traceback" not in result.stderr
