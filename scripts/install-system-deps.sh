#!/usr/bin/env bash
# Install the Debian packages pyfiji_dl needs, only when they are missing:
# a Java runtime, ImageJ 1.x (libij-java), a virtual display (xvfb, xauth) and python3.X-venv;
# with --test also chromium (the QC report is rendered in the tests) and a JDK (the tests compile
# their TensorFlow for Java consumer harness, tests/java, with javac).
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || [ -n "${JAVA_HOME:-}" ] || missing+=(default-jre-headless)
if [ -z "${PYFIJI_DL_IJ_JAR:-}${PYFIJI_DL_FIJI:-}" ] && [ ! -f /usr/share/java/ij.jar ]; then
  missing+=(libij-java)
fi
command -v xvfb-run >/dev/null 2>&1 || missing+=(xvfb)
command -v xauth >/dev/null 2>&1 || missing+=(xauth)
# the Python the venv is made with (scripts/find-python.sh) needs its venv module; Debian
# ships it apart as python3.X-venv. No such Python: find-python.sh says what to install.
if base="$(PYTHON="${PYTHON:-}" bash "$(dirname "$0")/find-python.sh" 2>/dev/null)"; then
  "$base" -c "import venv, ensurepip" >/dev/null 2>&1 \
    || missing+=("python$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv")
fi
# the tests render the QC report in a headless browser
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (java, ImageJ, xvfb, xauth, venv)"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "Need root to install: ${missing[*]}. Run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No apt-get here. Install yourself: a Java runtime, ImageJ (or set PYFIJI_DL_FIJI to a Fiji.app), Xvfb." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
