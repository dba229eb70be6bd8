"""Training stage: a (Q)LoRA adapter on the SFT data from `make data`, configured by train/lora_sft.yaml.

launch.py (entry, 1 or N processes) -> sft.py (the recipe) using config.py, data.py, checkpoints.py,
callbacks.py (the curve figure comes from core/figures.py); sample.py and merge.py try the result.
"""
