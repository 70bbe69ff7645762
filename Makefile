# `make all`: set up .venv and run the whole workflow on the embedded corpus and encoder.
# `make test`: set up .venv and run the tests.
# `make docs`: regenerate docs/commands.md from project.yml (`spacy project document`).
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# weasel runs commands without a shell; `env ... python` must find the venv's python
export PATH := $(BIN):$(PATH)
export TOKENIZERS_PARALLELISM := false

.PHONY: all test lint docs install clean

all: install
	$(BIN)/python -m spacy project run all

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: install
	$(BIN)/python scripts/document_project.py

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

clean:
	rm -rf corpus/*.spacy corpus/*.json training metrics pipelines packages/zh_* encoders/random-* project.lock
