# Recurrent neural networks, hands-on: every task in one place. `make help` lists them.
# Two commands set up a fresh machine: `make book` and `make test` (each creates .venv first).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going
ASSIGNMENT ?= numpy_rnn
SUBMISSIONS ?=

.DEFAULT_GOAL := help
LOCK := requirements-lock.txt
# An optional extra of jupyter-events' jsonschema, not needed here: when installed, jsonschema imports
# it, and that import builds a grammar, 3 s of CPU in every process that imports nbformat (the grader
# and each of its workers, nbgrader, jupyter-book, jupytext, the tests). Without it only jsonschema's
# "iri" formats go unchecked. benchmarks/import_times.py measures it.
NOT_INSTALLED := rfc3987-syntax lark

.PHONY: help venv lock system-deps data book book-quick lab-times notebooks test test-fast lint format assignments grade clean clean-grades distclean

help: ## List every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip uninstall --quiet --yes $(NOT_INSTALLED)
	@touch $@

venv: $(INSTALLED) ## Create .venv: requirements.txt, every transitive version held by requirements-lock.txt

lock: ## Re-pin requirements-lock.txt after changing requirements.txt (resolves without the old lock; Linux x86_64)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --upgrade -r requirements.txt
	@{ echo "# The whole course environment, pinned: make venv installs requirements.txt with these as"; \
	   echo "# constraints. Regenerate with make lock after changing requirements.txt (Linux x86_64)."; \
	   $(BIN)/python -m pip freeze --exclude-editable | grep -v '^rnncourse'; } > $(LOCK)
	$(BIN)/python -m pip uninstall --quiet --yes $(NOT_INSTALLED)

system-deps: ## Install the Debian packages the tests and the grader use (bubblewrap, Chromium, a Korean font); needs root
	@bash .ci/install-system-deps.sh

data: $(INSTALLED) ## Seed Keras' dataset cache from COURSE_DATA_DIR or ../shared/datasets/keras
	$(BIN)/python -m rnncourse

book: $(INSTALLED) ## Build the HTML book (full mode) into _build/html; fails on any error or warning
	COURSE_QUICK=0 $(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Open _build/html/index.html"

book-quick: $(INSTALLED) ## Build the book in quick mode into _build/quick/_build/html (a preview)
	COURSE_QUICK=1 $(BIN)/python -m rnncourse.execute_book --path-output _build/quick
	COURSE_QUICK=1 $(BIN)/jupyter-book build . $(JB_FLAGS) --path-output _build/quick

lab-times: $(INSTALLED) ## Print each lab's full-mode time, as recorded by the last `make book`
	$(BIN)/python benchmarks/lab_times.py --from-cache

notebooks: $(INSTALLED) ## Regenerate what _config.yml and the pages derive: install cells, README, Colab copies (book/**/*.ipynb)
	$(BIN)/python -m rnncourse.publish

test: $(INSTALLED) ## Run every test in quick mode: helpers, the quick book (every page run once), grading, browser
	COURSE_QUICK=1 $(BIN)/python -m pytest

test-fast: $(INSTALLED) ## The inner loop (under 3 min): helpers, chapter code, release sync, lint; no notebook, no grading
	COURSE_QUICK=1 $(BIN)/python -m pytest -m "not slow"

lint: $(INSTALLED) ## Check style with ruff (code, tests and solution notebooks)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED) ## Format code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

assignments: $(INSTALLED) ## Regenerate assignments/ from solutions/ with nbgrader (never edit assignments/)
	$(BIN)/python -m autograder.release

grade: $(INSTALLED) ## Autograde (needs bubblewrap: make system-deps): make grade SUBMISSIONS=folder-or-zip ASSIGNMENT=numpy_rnn
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder or zip> ASSIGNMENT=<name>"; exit 2; }
	$(BIN)/python -m autograder "$(SUBMISSIONS)" --assignment "$(ASSIGNMENT)"

clean: ## Remove build output (keeps grading output and gradebooks: see clean-grades)
	rm -rf _build

clean-grades: ## Remove grading output and gradebooks, manual grades included
	rm -rf grading_output gradebook.db

distclean: clean ## Also remove the virtual environment
	rm -rf $(VENV)
