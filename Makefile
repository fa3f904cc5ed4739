# pyfiji_dl: two commands on a fresh Debian machine with Python 3.11.
#   make demo   - install everything, run the bundled demo, check it in real ImageJ
#   make test   - install everything, run the test suite under a virtual display

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pyfiji-dl-installed
XVFB   := xvfb-run -a -s "-screen 0 1280x1024x24"

.PHONY: all install system-deps demo test benchmark doctor clean

all: test

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dl,export,cluster,test]"
	@touch $(STAMP)

install: system-deps $(STAMP)

demo: install
	$(XVFB) $(VENV)/bin/pyfiji-dl demo -o demo_output

test: install
	@bash scripts/install-system-deps.sh --test
	@bash scripts/fetch-test-artifacts.sh
	$(XVFB) $(PY) -m pytest -q -p no:cacheprovider

benchmark: install
	$(XVFB) $(PY) benchmarks/bench_rois_labels.py
	$(XVFB) $(PY) benchmarks/bench_stardist.py
	$(XVFB) $(PY) benchmarks/bench_restoration.py
	$(XVFB) $(PY) benchmarks/bench_fiji_session.py
	$(PY) benchmarks/bench_qc.py
	$(XVFB) $(PY) benchmarks/bench_unet_autolabel.py
	$(PY) benchmarks/bench_export.py
	$(PY) benchmarks/bench_distributed.py

doctor: install
	$(XVFB) $(VENV)/bin/pyfiji-dl doctor

clean:
	rm -rf demo_output .pytest_cache build *.egg-info
