# The two Quick-start commands are `make run` and `make test`; both set everything up first.
.PHONY: setup run test lint bench compose-smoke

VENV := .venv/bin

setup:
	@scripts/setup.sh run

run:
	@scripts/setup.sh run
	$(VENV)/alforge run examples/water.toml

# ALFORGE_COMPOSE_SMOKE=ci (the default here) adds the short compose smoke test, which installs and
# starts Docker if missing (docs/service.md); ALFORGE_COMPOSE_SMOKE= skips it.
test:
	@scripts/setup.sh test
	$(VENV)/ruff check alforge tests benchmarks
	ALFORGE_COMPOSE_SMOKE=$${ALFORGE_COMPOSE_SMOKE-ci} $(VENV)/python -m pytest

bench:
	@scripts/setup.sh test
	$(VENV)/python benchmarks/run_all.py

# docker-compose.yml run for real: images, stack, water campaigns, a worker restart, down
# (installs Docker from Debian if missing; see docs/service.md). CI runs `scripts/compose-smoke.sh --ci`.
compose-smoke:
	scripts/compose-smoke.sh
