# The two commands of the README: `make course` and `make test` (each sets up first if needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2
PIP    := $(BIN)/pip --disable-pip-version-check
# llama.cpp's AMX kernels crash on some Xeons (Sapphire Rapids) in this release; a portable
# AVX2 build avoids them and runs everywhere x86-64 does.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
endif

.PHONY: setup course test test-fast bench student sync lab gpu-check clean

setup: $(STAMP)

# torch first, from the pin (the CPU wheel); then the package with every course extra.
# llama-cpp-python compiles from source the first time (~8 min on 2 cores); pip caches the wheel.
$(STAMP): pyproject.toml constraints.txt deps/debian.txt
	scripts/setup-system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24"
	$(PIP) install -q -c constraints.txt torch
	CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PIP) install -q -c constraints.txt -e ".[course,llama,lab,dev]"
	$(BIN)/llmcourse assets prepare
	touch $(STAMP)

course: setup
	$(BIN)/llmcourse run --all --jobs $(JOBS)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup -q

test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n $(JOBS) -q -m "not slow and not notebook"

bench: setup
	$(BIN)/llmcourse bench

student: setup
	$(BIN)/llmcourse student

sync: setup
	$(BIN)/llmcourse sync

# JupyterLab from the course's environment (widgets render tqdm bars), on the student notebooks.
lab: setup
	$(BIN)/llmcourse student
	$(BIN)/jupyter lab exercises/

# What only a GPU shows: every notebook on CUDA plus the gpu_* benchmarks (one JSON, under 8 min).
gpu-check: setup
	$(BIN)/python scripts/gpu_check.py

clean:
	rm -rf build
