# The two Quick-start commands are `make run` and `make test`; both set everything up first.
# `make lint` (ruff, mypy) and `make doctest` (the `>>>` examples in alforge/) are part of `make test`
# and run first, so a style or type error fails in a minute, not after the suite.
.PHONY: setup run test lint doctest bench compose-smoke

VENV := .venv/bin

setup:
	@scripts/setup.sh run

run: setup
	$(VENV)/alforge run examples/water.toml

lint: setup
	$(VENV)/ruff check alforge tests benchmarks
	$(VENV)/python -m mypy alforge

doctest: setup
	$(VENV)/python -m pytest -q -p no:cacheprovider --doctest-modules alforge --ignore=alforge/db/migrations

# ALFORGE_COMPOSE_SMOKE=ci (the default here) adds the short compose smoke test, which installs and
# starts Docker if missing (docs/service.md); ALFORGE_COMPOSE_SMOKE= skips it.
test: lint doctest
	@scripts/setup.sh test
	ALFORGE_COMPOSE_SMOKE=$${ALFORGE_COMPOSE_SMOKE-ci} $(VENV)/python -m pytest

bench:
	@scripts/setup.sh test
	$(VENV)/python benchmarks/run_all.py

# docker-compose.yml run for real: images, stack, water campaigns, a worker restart, down
# (installs Docker from Debian if missing; see docs/service.md). CI runs `scripts/compose-smoke.sh --ci`.
compose-smoke:
	scripts/compose-smoke.sh
