# segml: set-up, tests and the demo. Only Python 3.11+, git and make are needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := constraints.txt

.PHONY: help venv install install-dev test test-fast lint typecheck pytest demo notebooks lock clean chromium

help:
	@echo "make demo   - set up .venv and run the main job on the built-in CDNOW data"
	@echo "make test   - set up .venv with the dev extra and run ruff, mypy and the test suite"
	@echo "make test-fast - the inner loop: ruff and the tests not marked slow, mlflow_server, spark or browser"
	@echo "make notebooks - install JupyterLab (pinned) and open the notebooks on 127.0.0.1"
	@echo "make lock   - re-resolve dependencies and rewrite $(LOCK)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==26.3"

# Installs are stamped so repeated runs are fast; the stamp depends on the lock and pyproject.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[dev,spark]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

lint: install-dev
	$(BIN)/ruff check segml tests experiments
	$(BIN)/ruff format --check segml tests experiments

typecheck: install-dev
	$(BIN)/mypy

# The report test renders report.html in Debian's headless Chromium.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The report test needs Debian's chromium: sudo apt-get install chromium"; exit 1; \
	  fi; }

pytest: install-dev chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck pytest

test-fast: lint install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow and not mlflow_server and not spark and not browser"

demo: install
	$(BIN)/segml run experiments/cdnow.toml

# JupyterLab on the loopback interface only, from the same pinned environment.
notebooks: install-dev
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[dev,spark,notebooks]"
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser --notebook-dir notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

# Regenerate the lock from a clean resolution of pyproject's dependencies (all extras).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet "pip==26.3"
	.lock-venv/bin/python -m pip install --quiet -e ".[dev,spark,notebooks]"
	.lock-venv/bin/python -m pip freeze --exclude-editable --exclude segml | sort > $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
