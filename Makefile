# The two commands: `make run` (the whole dev stack) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint system-deps bench chaos reliability clean

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

# The long fault tests of issue 12 (about 20 minutes): tests/chaos at full size (50 cases and 12
# worker kills, a 10-minute mail outage, a 2-minute ledger outage); `make test` runs them small.
# Each writes var/reliability/*.json; tools/reliability_table.py renders them. CHAOS_ARGS passes
# pytest options (e.g. CHAOS_ARGS='-k worker'); CHAOS_SEED repeats a run's kill points.
chaos: $(STAMP)
	CHAOS_CASES=50 CHAOS_KILLS=12 CHAOS_SERVER_CASES=30 CHAOS_MAIL_CASES=20 \
	CHAOS_SMTP_OUTAGE=600 CHAOS_LEDGER_OUTAGE=120 \
	$(PY) -m pytest tests/chaos $(CHAOS_ARGS)
	$(PY) tools/reliability_table.py

# The README's reliability table, from a fresh run of every test that records a result (the
# fault tests at make-test size, hostile input, cross-clinic, rate limit, identity, lockout).
reliability: $(STAMP)
	rm -rf var/reliability
	$(PY) -m pytest tests/chaos tests/test_hostile_input.py tests/test_cross_clinic.py \
	  tests/test_rate_limit.py tests/test_identity.py tests/test_approval_codes.py
	$(PY) tools/reliability_table.py --write README.md

clean:
	rm -rf $(VENV) var .pytest_cache
