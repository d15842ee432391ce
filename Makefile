# Entry points for people and CI. Every target that runs code bootstraps first: the
# bootstrap is idempotent and takes about a second when nothing changed.
SHELL := /bin/bash

VENV := .venv
BOOTSTRAP := bash deploy/scripts/bootstrap.sh
ARGS ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help bootstrap run test lint bench bench-all clean reset-demo

help:
	@echo "make run [ARGS=...]          start the hub with demo data (seva serve --demo)"
	@echo "make test [PYTEST_ARGS=...]  ruff + mypy + the whole pytest suite"
	@echo "make lint                    ruff check + ruff format --check"
	@echo "make bench [ARGS=...]        seva bench contention"
	@echo "make bench-all [ARGS=...]    seva bench all: every bench swept, docs/bench/ plots"
	@echo "make clean                   remove caches and build output (keeps .venv and .seva)"
	@echo "make reset-demo              delete .seva/ (local data); stop make run first"

bootstrap:
	$(BOOTSTRAP)

run:
	$(BOOTSTRAP)
	$(VENV)/bin/seva serve --demo $(ARGS)

test:
	$(BOOTSTRAP) --with-redis --with-browser --with-nginx
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy hub actors storage protocols
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint:
	$(BOOTSTRAP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench:
	$(BOOTSTRAP)
	$(VENV)/bin/seva bench contention $(ARGS)

bench-all:
	$(BOOTSTRAP)
	$(VENV)/bin/seva bench all $(ARGS)

# Build junk only: .venv and the local data in .seva/ stay.
clean:
	rm -rf build dist .pytest_cache .ruff_cache .mypy_cache
	find . \( -path ./.venv -o -path ./.seva -o -path ./.git \) -prune -o \
		\( -name __pycache__ -o -name "*.egg-info" \) -type d -prune -exec rm -rf {} +

# Deletes the local cluster and uploads; stops nothing. A fallback cluster under
# /var/tmp/seva-pg is stopped and replaced by the next start (storage/cluster.py).
reset-demo:
	rm -rf .seva
