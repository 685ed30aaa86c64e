# Everything runs from a local virtualenv that these targets create; only Python 3.11 and pip are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup demo test test-slow bench clean-venv

setup: $(STAMP)

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
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python ../shared/bench/run.py --tasks ../shared/bench/tasks --only penguins-species,ames-price,telco-churn-vague \
	  --out runs/bench-$(shell date +%Y%m%d-%H%M%S) \
	  --cmd '$(CURDIR)/$(BIN)/mlwright run {data} --task-file {description} --output {output} --time-limit {time_limit}'

clean-venv:
	rm -rf $(VENV)
