# Set-up, tests and the demo. Needs Python 3.12 (`python3.12` on PATH; pyenv users get 3.12.1 by default).
PYTHON ?= env PYENV_VERSION=$${PYENV_VERSION:-3.12.1} python3.12
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test demo bench clean

# the package is installed as a copy, so a change to its code or shipped weights reinstalls it: without
# that, `make demo` would run the weights of the last install (no build isolation: it works offline)
PACKAGE_FILES := $(wildcard models/*.py models/*/*.py models/weights/* training/*.py vsrainmamba/*.py \
                   vsrainmamba/README.md vsrainmamba/plugin/*.c opencv_filter/*.py)

setup: $(VENV)/.package

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install '.[dev]'
	touch $@

$(VENV)/.package: $(VENV)/.installed $(PACKAGE_FILES)
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall --no-build-isolation .
	touch $@

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/rainmamba demo demo_out

bench: setup
	$(BIN)/rainmamba bench

clean:
	rm -rf $(VENV) build *.egg-info demo_out
