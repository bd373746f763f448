# 两条命令 / two commands: `make demo` and `make test`. Each builds .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs fixtures floors clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,service,spark]'
	touch $(STAMP)

# The demo generates a GB18030 office-style file with known defects, validates it (findings are expected:
# exit 1; only 2 is a failure), writes the HTML report and scores the findings against the manifest. No
# --reference-date: validate takes the one the defects were made against from the manifest beside the file.
DEMO := out/demo
demo: $(STAMP)
	mkdir -p out
	$(BIN)/fpschema generate service_record --rows 5000 --seed 2024 --defects all --defect-rate 0.06 \
	  --office --encoding gb18030 --output $(DEMO)_services.csv
	$(BIN)/fpschema validate $(DEMO)_services.csv --format html --output $(DEMO)_report.html; \
	  status=$$?; [ $$status -le 1 ]
	$(BIN)/fpschema validate $(DEMO)_services.csv --format json --output $(DEMO)_report.json > /dev/null; \
	  status=$$?; [ $$status -le 1 ]
	$(BIN)/fpschema score --truth $(DEMO)_services.csv.manifest.csv --findings $(DEMO)_report.json
	@echo "HTML 报告 / HTML report: $(CURDIR)/$(DEMO)_report.html"

test: $(STAMP)
	$(BIN)/ruff check fpschema tests benchmarks ci
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check fpschema tests benchmarks ci

fixtures: $(STAMP)
	$(BIN)/python -m fpschema.fixtures fixtures

docs: $(STAMP)
	$(BIN)/python -m fpschema.docgen

# 依赖下限 / dependency floors: a separate venv with exactly the lowest versions pyproject.toml declares (read
# from it by ci/floors.py, so they are written once) for the runtime dependencies and the service extra, and the
# smoke test over every use of them (docs/dependencies.md). Rebuilt from scratch when pyproject.toml changes.
FLOORS := .venv-floors
$(FLOORS)/.installed: pyproject.toml ci/floors.py
	rm -rf $(FLOORS)
	$(PY) -m venv $(FLOORS)
	$(PY) ci/floors.py service > $(FLOORS)/floors.txt
	$(FLOORS)/bin/python -m pip install --quiet -r $(FLOORS)/floors.txt
	$(FLOORS)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

floors: $(FLOORS)/.installed
	$(FLOORS)/bin/python -m pip check
	$(FLOORS)/bin/python tests/smoke_floors.py

clean:
	rm -rf $(VENV) $(FLOORS) build dist .pytest_cache
