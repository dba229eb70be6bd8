"""One call seeds every RNG a run touches; call it before any model or LoRA weight is built."""
import hashlib
import os
import random


def seed_everything(seed: int, deterministic: bool = True) -> None:
    import numpy as np
    import torch

    os.environ["PYTHONHASHSEED"] = str(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    from transformers import set_seed

    set_seed(seed)


def stable_unit(seed: int, *parts: object) -> float:
    """A number in [0, 1) from a seed and keys, independent of processing order and of PYTHONHASHSEED."""
    text = "\x1f".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2**64
