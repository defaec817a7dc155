# Soma: `make run` starts the platform on embedded defaults; `make test` runs the whole suite.
# Both create .venv and install pinned dependencies (constraints.txt) on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv installs from wherever pip is configured to (scripts/pip_install.py): 12 s for the suite's
# dependencies on a fresh clone, where pip took 60-85 s.
PIP := $(BIN)/python scripts/pip_install.py $(VENV) -c constraints.txt
# Python caches each module's bytecode the first time it is imported, unless PYTHONDONTWRITEBYTECODE
# is set (as on this machine): then every process the suite starts compiled Soma and its libraries
# again, a second of CPU each. Compiling the whole venv ahead instead took 60 s on two cores, for
# 17,000 files of which a few thousand are ever imported. Let Python cache what is used.
export PYTHONDONTWRITEBYTECODE :=
# Test processes (pytest-xdist): most tests wait on processes, sockets and the database, so one
# more than the cores keeps them busy while a test waits; two per core would oversubscribe the
# CPU-bound start-ups (measured on two cores, fresh clone: three ran the suite in 531 s against
# 579 s for two, every test slower but the whole faster).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# Exit 0 when Soma is configured (environment or .env, read as Soma reads them) to use another SLM.
OTHER_SLM := $(BIN)/python -c "from soma import config; raise SystemExit(0 if config.get().slm_base_url else 1)"

# The agent's code runs with its own Python (soma sandbox; SOMA_SANDBOX_PYTHON finds it here by
# default), made from the system's interpreter: the jail binds /usr, never the pyenv or uv Python
# Soma's venv may come from. Bytecode is compiled at install: the jail mounts it read-only, and
# without .pyc files every `import pandas` compiled it again.
SANDBOX_VENV := .venv-sandbox
SANDBOX_BASE_PYTHON ?= /usr/bin/python3

.PHONY: run test test-fast bench install sandbox clean

# The local SLM (prebuilt llama.cpp wheels and the model, seconds to install) only when it will be used.
# Without bubblewrap Soma still runs, with code execution off and the reason shown.
run: $(VENV)/.core $(SANDBOX_VENV)/.installed
	@scripts/install-bubblewrap.sh || echo "make run: going on without bubblewrap: the agent cannot run code" >&2
	@$(OTHER_SLM) || $(MAKE) --no-print-directory $(VENV)/.local-slm
	$(BIN)/soma up

# The whole suite, as CI runs it: real PostgreSQL, OpenBao, processes, bubblewrap, Chromium and the local SLM.
# Chromium and bubblewrap come from apt while uv installs the Python side, so the installs overlap.
test:
	@{ scripts/install-browser.sh && scripts/install-bubblewrap.sh; } & system=$$!; \
	$(MAKE) --no-print-directory $(VENV)/.test $(SANDBOX_VENV)/.installed; installed=$$?; \
	wait $$system && [ $$installed -eq 0 ]
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

# The inner loop: unit and in-process API tests, no child processes or browser.
test-fast: $(VENV)/.dev
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not processes"

# Turn latency at concurrency 1, 16 and 64: the SLM directly, through LiteLLM proxy, through Soma.
bench: $(VENV)/.dev
	$(BIN)/python -m bench.turn_latency --concurrency 1,16,64

install: $(VENV)/.core

# The sandbox's Python environment and bubblewrap: what `soma sandbox` needs to run code.
sandbox: $(SANDBOX_VENV)/.installed
	@scripts/install-bubblewrap.sh

$(SANDBOX_VENV)/bin/python:
	$(SANDBOX_BASE_PYTHON) -m venv --without-pip $(SANDBOX_VENV)

$(SANDBOX_VENV)/.installed: $(SANDBOX_VENV)/bin/python sandbox-requirements.txt | $(BIN)/python
	$(BIN)/python scripts/pip_install.py $(VENV) --into $(SANDBOX_VENV) --compile-bytecode -r sandbox-requirements.txt
	chmod -R a+rX $(SANDBOX_VENV)  # the jails run as other uids, whatever the umask was
	touch $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

# Each extra installs the core too (one pip run, not two: each run costs seconds even with nothing to do).
$(VENV)/.dev: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e ".[dev]"
	touch $@ $(VENV)/.core

$(VENV)/.local-slm: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e ".[local-slm]"
	touch $@ $(VENV)/.core

# What `make test` needs, in one pip run.
$(VENV)/.test: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e ".[dev,local-slm]"
	touch $@ $(VENV)/.core $(VENV)/.dev $(VENV)/.local-slm

clean:
	rm -rf $(VENV) $(SANDBOX_VENV) build *.egg-info src/*.egg-info
