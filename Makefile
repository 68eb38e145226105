# Two commands do all set-up on a fresh machine with Python 3.10+:
#   make book   build the website into _build/html (creates .venv first)
#   make test   unit tests, every notebook re-executed by nbval, and a clean
#               book build with warnings as errors (creates .venv first)
#   make nbval-elsewhere   the notebooks again, with another machine's floating point
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NOTEBOOKS = $(shell $(PY) book/toc_notebooks.py)

.PHONY: book test nbval-elsewhere clean

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

# The notebooks under the floating-point set-up of another machine: NumPy's widest SIMD
# loops off, OpenBLAS's plain SSE3 kernel on two threads, Numba compiling for a generic
# x86-64. A stored output that hangs on the last bits of a result fails here.
NPY_FEATURES = $(shell $(PY) -c "from numpy._core._multiarray_umath import __cpu_dispatch__ as d; print(' '.join(d))" 2>/dev/null)
nbval-elsewhere: $(VENV)/.installed
	NPY_DISABLE_CPU_FEATURES="$(NPY_FEATURES)" OPENBLAS_CORETYPE=Prescott OPENBLAS_NUM_THREADS=2 \
	OMP_NUM_THREADS=2 NUMBA_CPU_NAME=generic \
	$(PY) -m pytest --nbval --nbval-current-env -p no:cacheprovider -q $(NOTEBOOKS)

clean:
	rm -rf _build $(VENV)
