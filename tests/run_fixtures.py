"""Run folders for the export and chat tests, without training: a real LoRA adapter on a real bundled base model,
untrained but with small random B (so adapter != base, unlike a fresh LoRA, by about as much as a short
training moves it, not the model-wrecking amount of PEFT's init_lora_weights=False), a manifest whose config is the real
train/lora_sft.yaml (base model swapped, unquantised to keep CPU tests fast) and whose data folder holds the
system prompt the adapter "was trained with"."""
from pathlib import Path

from core import offline
from core.config import to_dict
from core.jsonio import write_json, write_jsonl
from core.manifest import REPO_ROOT
from train.config import load_config

SYSTEM = "你是鲁迅，请用你一贯的文风写作。"


def lora_run(run: Path, base_model: str, b_std: float = 0.02, seed: int = 0) -> Path:
    """A run folder as `make train` leaves it (adapter/, manifest.json) for the bundled `base_model` folder
    (relative to the repo), LoRA B drawn from N(0, b_std); b_std=0 is a fresh LoRA, whose merged model is the
    base itself."""
    offline.enable()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(str(REPO_ROOT / base_model), local_files_only=True)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, b_std)
    model.peft_config["default"].base_model_name_or_path = base_model
    model.save_pretrained(run / "adapter")
    data = run / "data"
    write_jsonl(data / "sft_train.jsonl", [{"prompt": [{"role": "system", "content": SYSTEM},
                                                       {"role": "user", "content": "以《读书》为题写一段文字。"}],
                                            "completion": [{"role": "assistant", "content": "读书是好的。"}]}])
    config = to_dict(load_config(REPO_ROOT / "train" / "lora_sft.yaml",
                                 [f"base_model={base_model}", "load_in_4bit=false", "run_name=style",
                                  "lora_r=4", "lora_alpha=8"]))
    write_json(run / "manifest.json", {"stage": "train", "config": config, "data": {"dir": str(data)}})
    return run
