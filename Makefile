# The two commands: `make run` (the whole dev stack) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/confide dev

test: $(STAMP) lint system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Part of `make test`: Chromium and pdftoppm, installed with apt-get as root, else named.
system-deps:
	tools/system_deps.sh

# Part of `make test`: lint errors and type errors fail CI like a failing test.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy domain workflows activities infra

# The benchmark of issue 10 (about 15 minutes on 2 cores): prints a table, writes bench/results.json
# and bench/results.png. `$(PY) -m bench.run --help` for parts and sizes; BENCH_ARGS passes them.
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
