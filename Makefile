# Two commands do all set-up on a fresh machine with Python 3.10+:
#   make book   build the website into _build/html (creates .venv first)
#   make test   unit tests, every notebook re-executed by nbval, and a clean
#               book build with warnings as errors (creates .venv first)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NOTEBOOKS = $(shell $(PY) book/toc_notebooks.py)

.PHONY: book test clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

$(VENV)/.oracle: $(VENV)/.installed
	@# PyTorch is an optional second oracle for the tests. Take it only if its wheel lies on
	@# this machine (--no-index; a download would be gigabytes), then fetch its small deps.
	if $(PY) -m pip install --quiet --no-index --no-deps torch==2.13.0 2>/dev/null; then \
		$(PY) -m pip install --quiet torch==2.13.0; \
	else echo "No local PyTorch wheel: the tests that compare with PyTorch will be skipped."; fi
	touch $@

book: $(VENV)/.installed
	rm -rf _build
	$(VENV)/bin/jupyter-book build . --all -W --keep-going
	@echo "The book is in _build/html/index.html"

test: $(VENV)/.oracle book
	$(PY) -m pytest tests $(NOTEBOOKS) --nbval --nbval-current-env -p no:cacheprovider

clean:
	rm -rf _build $(VENV)
