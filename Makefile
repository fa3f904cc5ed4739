# pyfiji_dl: two commands on a fresh Debian/Ubuntu machine.
#   make demo   - install everything, run the bundled demo, check it in real ImageJ
#   make test   - install everything, run the test suite under a virtual display
# Needs a Python 3.10 or 3.11 (found by scripts/find-python.sh; PYTHON=... to name one).

PYTHON ?=
VENV   ?= .venv
# versions of every package installed (`make lock` refreshes it; LOCK= installs unpinned)
LOCK   ?= requirements.lock
EXTRAS ?= dl,export,cluster,test
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pyfiji-dl-installed
XVFB   := xvfb-run -a -s "-screen 0 1280x1024x24"
# The two ImageJ oracles of the tests: 1.54p (current Fiji's, from Maven Central via
# scripts/fetch-test-artifacts.sh) and Debian's 1.53t (libij-java).
MAVEN_REPO   ?= $(HOME)/.m2/repository
IJ_JAR_FIJI  ?= $(MAVEN_REPO)/net/imagej/ij/1.54p/ij-1.54p.jar
IJ_JAR_DEBIAN ?= /usr/share/java/ij.jar

.PHONY: all install find-python system-deps lock demo test lint benchmark doctor clean

all: test

# a Python 3.10/3.11, or stop here (nothing touched) with what to install on this system
find-python:
	@PYTHON="$(PYTHON)" bash scripts/find-python.sh >/dev/null

system-deps: find-python
	@PYTHON="$(PYTHON)" bash scripts/install-system-deps.sh

# the venv is made again only when its Python is unusable (e.g. a 3.12 left by an old run)
$(STAMP): pyproject.toml $(LOCK)
	@base="$$(PYTHON="$(PYTHON)" bash scripts/find-python.sh 2>/dev/null)" \
	  || { PYTHON="$(PYTHON)" bash scripts/find-python.sh; exit 1; }; \
	if ! { bash scripts/find-python.sh --check $(PY) && $(PY) -m pip --version >/dev/null 2>&1; }; then \
	  echo "install: creating $(VENV) with $$base"; "$$base" -m venv --clear $(VENV) || exit 1; \
	fi
	@echo "install: pip, then pyfiji_dl[$(EXTRAS)] $(if $(LOCK),with the versions in $(LOCK),unpinned)"
	@$(PY) scripts/pip_install.py --upgrade pip
	@$(PY) scripts/pip_install.py $(if $(LOCK),-c $(LOCK)) -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: system-deps $(STAMP)

# refresh requirements.lock after editing pyproject.toml; UPGRADE=1: newest allowed versions
lock:
	@base="$$(PYTHON="$(PYTHON)" bash scripts/find-python.sh 2>/dev/null || command -v python3)"; \
	"$$base" scripts/lock.py $(if $(UPGRADE),--upgrade)

demo: install
	$(XVFB) $(VENV)/bin/pyfiji-dl demo -o demo_output

test: install
	@bash scripts/install-system-deps.sh --test
	@bash scripts/fetch-test-artifacts.sh
	$(VENV)/bin/ruff check pyfiji_dl tests benchmarks
	$(XVFB) $(PY) -m pytest -q -p no:cacheprovider --imagej-jar=$(IJ_JAR_FIJI)
	$(XVFB) $(PY) -m pytest -q -p no:cacheprovider --imagej-jar=$(IJ_JAR_DEBIAN) -m "imagej and not display"

# pyflakes checks (configured in pyproject.toml) on the package, the tests and the benchmarks
lint: install
	$(VENV)/bin/ruff check pyfiji_dl tests benchmarks

benchmark: install
	$(XVFB) $(PY) benchmarks/bench_rois_labels.py
	$(XVFB) $(PY) benchmarks/bench_stardist.py
	$(XVFB) $(PY) benchmarks/bench_restoration.py
	$(XVFB) $(PY) benchmarks/bench_fiji_session.py
	$(PY) benchmarks/bench_qc.py
	$(XVFB) $(PY) benchmarks/bench_unet_autolabel.py
	$(PY) benchmarks/bench_export.py
	$(PY) benchmarks/bench_distributed.py
	$(XVFB) $(PY) benchmarks/bench_review.py
	$(XVFB) $(PY) benchmarks/bench_worker.py
	$(PY) benchmarks/bench_quality.py

doctor: install
	$(XVFB) $(VENV)/bin/pyfiji-dl doctor

clean:
	rm -rf demo_output .pytest_cache build *.egg-info
