# Soma: `make run` starts the platform on embedded defaults; `make test` runs the whole suite.
# Both create .venv and install pinned dependencies (constraints.txt) on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
# llama.cpp compiled for any x86-64, not just this CPU, so the wheel stays portable.
LOCAL_SLM_CMAKE_ARGS := -DGGML_NATIVE=OFF

.PHONY: run test test-slow bench install clean

run: $(VENV)/.local-slm
	$(BIN)/soma up

test: $(VENV)/.dev
	scripts/install-browser.sh
	$(BIN)/pytest

# The one test that chats with the real local SLM (builds llama-cpp-python on first use).
test-slow: $(VENV)/.dev $(VENV)/.local-slm
	$(BIN)/pytest -m slow

bench: $(VENV)/.dev
	$(BIN)/python -m bench.turn_latency

install: $(VENV)/.core

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	# torch first, alone, so pip takes the CPU build on disk before anything asks for another.
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) -e ".[dev]"
	touch $@

$(VENV)/.local-slm: $(VENV)/.core
	@echo "Building llama-cpp-python for the local SLM: about 15 minutes on 2 cores, once."
	CMAKE_ARGS="$(LOCAL_SLM_CMAKE_ARGS)" $(PIP) -e ".[local-slm]"
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
