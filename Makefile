# releases: developer entry points. `make test` runs every test and `make demo` deploys the
# Next.js example under PM2 + nginx while measuring load; both first install the system
# packages they need (scripts/need-system.sh: as root with apt-get, else it stops at once with
# the command to run). `make demo-static` is the quick tour of the CLI. Python packages go
# into a local .venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install system-deps test test-fast test-e2e test-pythons lint fmt demo demo-deps demo-static bench bench-capistrano clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Before the venv: a missing system package stops `make test` before anything else runs.
system-deps:
	@bash scripts/need-system.sh test

test: system-deps install
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests run the CLI in process where a real process is not the point (tests/helpers.py);
# RELEASES_TESTS_SUBPROCESS=1 make test-fast runs every call as a real process instead.
test-fast: install
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

test-e2e: system-deps install
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

# The fast suite on each supported Python (3.10-3.13) found here, each in a throwaway venv with
# the package installed as users install it (scripts/test-pythons.sh names any not found).
test-pythons:
	bash scripts/test-pythons.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: demo-deps install
	$(PY) examples/nextjs_demo.py

# The demo puts nginx in front of PM2 (its own config and port; the system nginx is never
# started or configured).
demo-deps:
	@bash scripts/need-system.sh demo

demo-static: install
	bash examples/demo.sh

bench: install
	$(PY) bench/run_all.py

# releases against Capistrano 3 (deploy + rollback, through a throwaway sshd on 127.0.0.1);
# installs capistrano + openssh-server with apt-get when root and that starts no service.
bench-capistrano: install
	$(PY) bench/capistrano/compare.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
