# Two commands for a fresh clone: `make demo` runs the whole challenge locally, `make test` runs the tests.
# Both create the virtual environment in .venv on first use.
PYTHON ?= python3
# A CPU build of torch; installed before the project so that pip never pulls a CUDA build.
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# DEMO_ARGS passes options to demo.py (`make demo DEMO_ARGS="--port 8080"`; see `python demo.py --help`).
demo: $(STAMP)
	$(BIN)/python demo.py $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) runs .pytest_cache
