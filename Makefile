# Set-up, tests and the demo. Needs Python 3.12 (`python3.12` on PATH; pyenv users get 3.12.1 by default).
PYTHON ?= env PYENV_VERSION=$${PYENV_VERSION:-3.12.1} python3.12
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test demo bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install '.[dev]'
	touch $@

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/rainmamba demo demo_out

bench: setup
	$(BIN)/rainmamba bench

clean:
	rm -rf $(VENV) build *.egg-info demo_out
