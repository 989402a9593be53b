# The two Quick-start commands are `make run` and `make test`; both set everything up first.
.PHONY: setup run test lint bench

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
