# 两条命令 / two commands: `make demo` and `make test`. Each builds .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo validates a sample with known defects: findings are expected (exit 1), only 2 is a failure.
demo: $(STAMP)
	$(BIN)/fpschema check-records service_record fixtures/service_records_sample.jsonl --reference-date 2024-06-30; \
	  status=$$?; [ $$status -le 1 ]

test: $(STAMP)
	$(BIN)/ruff check fpschema tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check fpschema tests benchmarks

docs: $(STAMP)
	$(BIN)/python -m fpschema.docgen

clean:
	rm -rf $(VENV) build dist .pytest_cache
