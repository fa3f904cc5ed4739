"""``pip install`` for ``make install``: one line per download, and when it fails, what failed and what to do.

    python scripts/pip_install.py PIP_INSTALL_ARGS...

pip's full output goes to a log (``<venv>/pip-install.log``, or $PIP_INSTALL_LOG); the terminal
gets what is downloaded (name and size, so a slow first install explains itself) and, on
failure, a diagnosis instead of pip's retries and tracebacks: an unreachable package index
(which one, for which package, and how to install through a proxy, a mirror or a folder of
wheels), a Python that is too new, or a lock that no longer fits pyproject.toml.
Standard library only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NETWORK_SIGNS = (
    "Failed to establish a new connection", "Temporary failure in name resolution",
    "Name or service not known", "nodename nor servname", "Connection refused",
    "Network is unreachable", "No route to host", "Read timed out", "ConnectTimeoutError",
    "ReadTimeoutError", "ProxyError", "SSLError", "CERTIFICATE_VERIFY_FAILED",
    "Connection reset by peer", "RemoteDisconnected", "IncompleteRead", "ProtocolError",
    "HTTP error 5", "403 Client Error", "404 Client Error",
)
# pip prints these for an unreachable index too: it then sees no versions at all
NO_VERSIONS = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: none\)")
NO_DISTRIBUTION = re.compile(r"No matching distribution found for (\S+)")
COLLECTING = re.compile(r"^\s*Collecting (\S+)")
DOWNLOADING = re.compile(r"^\s*Downloading (\S+) \(([^)]+)\)")
HOST = re.compile(r"host='([^']+)'")
LOOKING_IN = re.compile(r"^Looking in indexes: (.+)$", re.MULTILINE)
RETRY_PATH = re.compile(r"Retrying .*?: (/\S+)")
WRONG_PYTHON = re.compile(r"require[s]? a different [Pp]ython")
CONFLICT = re.compile(r"ResolutionImpossible|conflicting dependencies|Cannot install .* because these package versions have conflicting")


def index_description(log: str) -> str:
    """The package index pip used: from its own messages, else its configuration."""
    hosts = HOST.findall(log)
    if hosts:
        return f"the package index at {hosts[-1]}"
    looking = LOOKING_IN.findall(log)
    if looking:
        return f"the package index {looking[-1].strip()}"
    url = os.environ.get("PIP_INDEX_URL")
    if url:
        return f"the package index {url} (PIP_INDEX_URL)"
    try:
        configured = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        configured = ""
    return f"the package index {configured}" if configured else "the Python Package Index (PyPI)"


def failed_package(log: str) -> str:
    """The requirement pip was fetching when it gave up."""
    for pattern in (NO_DISTRIBUTION, NO_VERSIONS):
        found = pattern.findall(log)
        if found:
            return found[-1]
    paths = RETRY_PATH.findall(log)
    if paths:
        parts = [p for p in paths[-1].split("/") if p]
        if len(parts) >= 2 and parts[-2] == "simple":
            return parts[-1]
        return parts[-1] if parts else paths[-1]
    collecting = [m.group(1) for line in log.splitlines() if (m := COLLECTING.match(line))]
    return collecting[-1] if collecting else "(see the log)"


def diagnose(log: str, args: list[str], log_path: Path) -> str:
    """A short explanation of a failed pip install, with what to do."""
    package = failed_package(log)
    lock_args = [a for a in args if a.endswith(".lock")]
    if WRONG_PYTHON.search(log):
        return (f"pip install: {package} has no release for Python {sys.version.split()[0]} ({sys.executable}).\n"
                f"pyfiji_dl needs Python 3.10 or 3.11; run: bash scripts/find-python.sh\n"
                f"(full pip output: {log_path})")
    network = [sign for sign in NETWORK_SIGNS if sign in log]
    if network:
        where = index_description(log)
        reason = network[0]
        return "\n".join([
            f"pip install: could not reach {where} while fetching {package} ({reason}).",
            "Nothing was half-installed: pip installs only once every download has arrived.",
            "What to do:",
            "  - check the connection, then run the same make command again;",
            "  - behind a proxy: export HTTPS_PROXY=http://PROXY:PORT (and HTTP_PROXY), then again;",
            "  - through a mirror of the index: PIP_INDEX_URL=https://MIRROR/simple make install;",
            "  - with no network here: on a connected Linux x86_64 machine with the same Python, run",
            "      python3.11 -m pip download -d wheelhouse --no-deps -r requirements.lock",
            "      python3.11 -m pip download -d wheelhouse --no-deps \"setuptools>=77\"   (builds pyfiji_dl)",
            "    copy wheelhouse/ here, then: PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/wheelhouse make install",
            f"(full pip output: {log_path})",
        ])
    if NO_VERSIONS.search(log):
        return (f"pip install: {index_description(log)} offered no release of {package} for this machine"
                f" (Python {sys.version.split()[0]}, {sys.platform}).\n"
                "Check the name; a mirror may lack it; the lock is resolved for Linux x86_64 (elsewhere:"
                " make install LOCK=).\n"
                f"(full pip output: {log_path})")
    if CONFLICT.search(log):
        return (f"pip install: the lock ({', '.join(lock_args) or 'constraints'}) and pyproject.toml disagree"
                f" about {package}.\nRefresh the lock with `make lock` (see the README), then install again.\n"
                f"(full pip output: {log_path})")
    errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
    detail = "\n".join("  " + line for line in errors[-8:]) or "  (no ERROR line; see the log)"
    return f"pip install failed:\n{detail}\n(full pip output: {log_path})"


def main(argv: list[str]) -> int:
    log_path = Path(os.environ.get("PIP_INSTALL_LOG") or Path(sys.prefix) / "pip-install.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "install", "--progress-bar", "off", *argv]
    started = time.monotonic()
    downloaded = 0
    lines: list[str] = []
    with open(log_path, "a", encoding="utf-8") as log_file:  # both pip runs of one install
        log_file.write("$ " + " ".join(command) + "\n")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", cwd=os.getcwd())
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            log_file.flush()
            lines.append(line)
            match = DOWNLOADING.match(line)
            if match:
                downloaded += 1
                name = match.group(1).rsplit("/", 1)[-1]
                print(f"  downloading {name} ({match.group(2)})", flush=True)
        code = process.wait()
    log = "".join(lines)
    if code != 0:
        print(diagnose(log, argv, log_path), file=sys.stderr)
        return 1
    installed = [line for line in lines if line.startswith("Successfully installed")]
    count = len(installed[-1].split()) - 2 if installed else 0
    print(f"  pip: {count} package(s) installed, {downloaded} downloaded, in {time.monotonic() - started:.0f} s"
          f" (log: {log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
