"""Keep every stage local: no hub downloads, no telemetry, no experiment trackers.

Call `enable()` before importing transformers / huggingface_hub / datasets: they read these variables at
import time.
"""
import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DISABLE_TELEMETRY": "1",
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
}


def enable() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
