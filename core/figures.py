"""Figure helpers both stages use: the CJK font shipped by mplfonts (Noto Sans CJK SC), so Chinese labels
never render as boxes, an atomic PNG save without timestamps, and the training-curve figure that `make train`
writes and `make eval` puts in its report."""
import importlib.util
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a training box
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import font_manager  # noqa: E402

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"


def use_cjk_font() -> str:
    """Register Noto Sans CJK SC from the mplfonts package and make it the default family; returns its name."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package mplfonts is not installed: run `make setup` (it ships the CJK font)")
    path = Path(spec.submodule_search_locations[0]) / "fonts" / CJK_FONT_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: reinstall mplfonts (`make setup`)")
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    sns.set_theme(style="whitegrid", rc={"font.family": "sans-serif", "font.sans-serif": [name, "DejaVu Sans"],
                                         "axes.unicode_minus": False})
    return name


def save_png(fig, path: Path, dpi: int = 110) -> Path:
    """Write through a temp file (no half-written PNG after a kill); no software/date metadata in the bytes."""
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
    return path


def training_curves(log_rows: list[dict], path: Path, title: str) -> Path:
    """Train and val loss (left) and val perplexity (right; for DPO the val reward accuracy, the share of pairs
    whose chosen text the adapter prefers over the reference's preference) per optimiser step, from
    train_log.jsonl rows."""
    use_cjk_font()
    train = [r for r in log_rows if r.get("loss") is not None]
    val = [r for r in log_rows if r.get("eval_loss") is not None]
    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(10, 4))
    sns.lineplot(x=[r["step"] for r in train], y=[r["loss"] for r in train], ax=ax_loss, label="训练 train")
    if val:
        sns.lineplot(x=[r["step"] for r in val], y=[r["eval_loss"] for r in val], ax=ax_loss, marker="o",
                     label="验证 val")
        if "eval_rewards/accuracies" in val[0]:
            second, label = [r["eval_rewards/accuracies"] for r in val], "验证偏好准确率 val reward accuracy"
        else:
            second = [r.get("eval_perplexity") or math.exp(r["eval_loss"]) for r in val]  # older logs lack it
            label = "验证困惑度 val perplexity"
        sns.lineplot(x=[r["step"] for r in val], y=second, ax=ax_ppl, marker="o", color="C2", label=label)
        ax_ppl.set(ylabel=label)
    ax_loss.set(xlabel="步 step", ylabel="损失 loss")
    ax_ppl.set(xlabel="步 step")
    fig.suptitle(title)
    return save_png(fig, path, dpi=120)
