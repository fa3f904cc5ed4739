#!/usr/bin/env bash
# Find a Python that can run pyfiji_dl's stack (3.10 or 3.11: TensorFlow 2.15, whose Keras 2
# n2v 0.3.3 needs, has no wheels for 3.12+), before anything is created or installed.
#
#   scripts/find-python.sh            print the interpreter's full path; exit 1 with advice
#                                     (pyfiji_dl/python_advice.txt) when there is none
#   scripts/find-python.sh --check P  exit 0 when the executable P is such a Python, else 1
#                                     (silent; for an existing venv's python)
#
# Looks, in this order, at: $PYTHON (when given it is used or refused, never silently
# replaced), python3.11, python3.10, python3 on PATH, pyenv's versions/3.11.* and 3.10.*,
# uv's `uv python find`, and the Windows launcher `py -3.11` / `py -3.10`.
# Runs each candidate once with -c; touches nothing.
set -u

here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
advice_file="$here/../pyfiji_dl/python_advice.txt"

# One probe per candidate: version, real path, and whether it can make a venv with pip
# (Debian splits venv/ensurepip into python3.X-venv).
probe_code='import sys
print("%d.%d.%d" % sys.version_info[:3])
print(sys.executable)
try:
    import venv, ensurepip
    print("venv")
except ImportError:
    print("no-venv")'

seen=()       # "label: version at path" for the report
chosen=""     # full path of the first usable one
chosen_line=""

# probe LABEL CMD [ARGS...]: sets probe_version/probe_path/probe_venv; returns 1 when it does not run
probe() {
  local label="$1"; shift
  local out
  out="$("$@" -c "$probe_code" 2>/dev/null)" || return 1
  probe_version="${out%%$'\n'*}"
  local rest="${out#*$'\n'}"
  probe_path="${rest%%$'\n'*}"
  probe_venv="${rest#*$'\n'}"
  case "$probe_version" in [0-9]*.[0-9]*.[0-9]*) ;; *) return 1 ;; esac
  [ -n "$probe_path" ] || return 1
  seen+=("$label: Python $probe_version at $probe_path")
  return 0
}

usable_version() {
  case "$1" in 3.10.*|3.11.*) return 0 ;; *) return 1 ;; esac
}

# consider LABEL CMD [ARGS...]: probe it and keep it when it is the first usable one
consider() {
  [ -n "$chosen" ] && return 0
  probe "$@" || return 0
  if usable_version "$probe_version"; then
    chosen="$probe_path"
    chosen_line="$1: Python $probe_version at $probe_path"
    [ "$probe_venv" = venv ] || chosen_line+=" (its venv module is missing: python${probe_version%.*}-venv on Debian/Ubuntu)"
  fi
}

if [ "${1:-}" = "--check" ]; then
  [ -n "${2:-}" ] && [ -x "$2" ] && probe "$2" "$2" && usable_version "$probe_version"
  exit $?
fi

search_machine() {
  local cmd dir root
  for cmd in python3.11 python3.10 python3; do
    command -v "$cmd" >/dev/null 2>&1 && consider "$cmd" "$cmd"
  done
  if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)" && [ -d "$root/versions" ]; then
    for minor in 3.11 3.10; do
      # newest patch release first (3.11.10 before 3.11.9)
      while read -r dir; do
        [ -n "$dir" ] && [ -x "$dir/bin/python$minor" ] && consider "pyenv ${dir##*/}" "$dir/bin/python$minor"
      done < <(printf '%s\n' "$root"/versions/"$minor".* | sort -rV 2>/dev/null)
    done
  fi
  if command -v uv >/dev/null 2>&1; then
    for minor in 3.11 3.10; do
      local found
      found="$(uv python find "$minor" 2>/dev/null)" && [ -n "$found" ] && consider "uv python find $minor" "$found"
    done
  fi
  if command -v py >/dev/null 2>&1; then
    consider "py -3.11" py -3.11
    consider "py -3.10" py -3.10
  fi
}

print_advice() {
  echo >&2
  if [ -f "$advice_file" ]; then echo "$(<"$advice_file")" >&2; else
    echo "pyfiji_dl needs Python 3.10 or 3.11; install one (uv python install 3.11, pyenv, deadsnakes, brew) or use conda env create -f environment.yml" >&2
  fi
}

if [ -n "${PYTHON:-}" ]; then
  consider "PYTHON=$PYTHON" "$PYTHON"
  if [ -z "$chosen" ]; then
    if [ ${#seen[@]} -gt 0 ]; then
      echo "PYTHON=$PYTHON is ${seen[0]#*: }: pyfiji_dl cannot use it." >&2
    else
      echo "PYTHON=$PYTHON does not run here." >&2
    fi
    search_machine
    if [ -n "$chosen" ]; then
      echo "This machine has one that would do: $chosen_line" >&2
      echo "  make PYTHON=$chosen   (or leave PYTHON unset: it is found)" >&2
    fi
    print_advice
    exit 1
  fi
else
  search_machine
fi

if [ -z "$chosen" ]; then
  echo "No Python 3.10 or 3.11 found on this machine; nothing was installed." >&2
  if [ ${#seen[@]} -gt 0 ]; then
    echo "Found, but too old or too new:" >&2
    printf '  %s\n' "${seen[@]}" >&2
  fi
  print_advice
  exit 1
fi
echo "python: $chosen_line" >&2
echo "$chosen"
