PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crosspost run $(if $(CONFIG),-c $(CONFIG),)

test: $(STAMP)
	$(BIN)/ruff check crosspost adapters scheduler staffbot migrations tests benchmarks
	$(BIN)/ruff format --check crosspost adapters scheduler staffbot migrations tests benchmarks
	$(BIN)/mypy crosspost adapters scheduler staffbot
	scripts/with-postgres $(BIN)/pytest

bench: $(STAMP)
	-$(BIN)/python -m benchmarks.queue
	-$(BIN)/python -m benchmarks.telegram
	-$(BIN)/python -m benchmarks.media
	-$(BIN)/python -m benchmarks.intake
	-scripts/with-postgres $(BIN)/python -m benchmarks.postgres
	-$(BIN)/python -m benchmarks.chaos

clean:
	rm -rf $(VENV) build *.egg-info
