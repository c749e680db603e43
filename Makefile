# The two commands of the README. Each sets up its own virtual environment
# (.venv, from PyPI only) the first time, and again when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.eiegen-installed

.PHONY: demo test

demo: $(STAMP)
	$(VENV)/bin/eiegen demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 -q

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $@
