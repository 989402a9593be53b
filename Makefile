# The two Quick-start commands are `make run` and `make test`; both set everything up first.
.PHONY: setup run test lint bench compose-smoke

VENV := .venv/bin

setup:
	@scripts/setup.sh run

run:
	@scripts/setup.sh run
	$(VENV)/alforge run examples/water.toml

test:
	@scripts/setup.sh test
	$(VENV)/ruff check alforge tests benchmarks
	$(VENV)/python -m pytest

bench:
	@scripts/setup.sh test
	$(VENV)/python benchmarks/run_all.py

# docker-compose.yml run for real: images, stack, water campaigns, a worker restart, down
# (installs Docker from Debian if missing; see docs/service.md). CI runs `scripts/compose-smoke.sh --ci`.
compose-smoke:
	scripts/compose-smoke.sh
