"""Report figures (seaborn, PNG). Labels are bilingual and tick labels carry Chinese words and marks, so the
caller registers the CJK font first (core.figures.use_cjk_font); a missing glyph is an error in tests."""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch
from scipy.cluster.hierarchy import dendrogram, linkage
from scipy.spatial.distance import squareform
from sklearn.decomposition import PCA

from core.figures import save_png
from eval.stylometry import cosine_delta_matrix

SYSTEM_LABELS = {"author_heldout": "作者（留出）author", "base": "基座 base", "adapter": "适配器 adapter",
                 "fewshot": "少样本 few-shot", "author_train": "作者（训练）author train",
                 "reference": "参照作者 reference"}
# One colour per group, the same in every figure that shows texts of several groups.
GROUP_COLOURS = dict(zip(SYSTEM_LABELS, sns.color_palette("deep", len(SYSTEM_LABELS))))
MARK_LABELS = {"<space>": "空格"}


def perplexity_per_article(rows: list[dict], path: Path) -> Path:
    frame = pd.DataFrame([{"article": r["article_id"].rsplit("/", 1)[-1], "system": SYSTEM_LABELS[s],
                           "perplexity": r[f"{s}_perplexity"]} for r in rows for s in ("base", "adapter")])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    sns.barplot(frame, y="article", x="perplexity", hue="system", ax=ax, orient="h")
    ax.set(title="留出文章的困惑度 Perplexity on held-out articles", xlabel="困惑度 perplexity", ylabel="")
    return save_png(fig, path)


def sentence_lengths(lengths: dict[str, list[int]], path: Path) -> Path:
    frame = pd.DataFrame([{"group": SYSTEM_LABELS[g], "length": n} for g, values in lengths.items() for n in values])
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.ecdfplot(frame, x="length", hue="group", ax=ax)
    ax.set(title="句长分布 Sentence length (ECDF)", xlabel="句长（词）sentence length (words)", ylabel="累计比例 share")
    return save_png(fig, path)


def punctuation_profile(rates: dict[str, dict[str, float]], top: int, path: Path) -> Path:
    author = rates["author_heldout"]
    marks = sorted(author, key=lambda m: (-author[m], m))[:top]
    frame = pd.DataFrame([{"mark": MARK_LABELS.get(m, m), "group": SYSTEM_LABELS[g], "rate": rates[g].get(m, 0.0)}
                          for g in rates for m in marks])
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.barplot(frame, x="mark", y="rate", hue="group", ax=ax)
    ax.set(title="标点使用 Punctuation per 1,000 characters", xlabel="标点 mark", ylabel="每千字 per 1,000 chars")
    return save_png(fig, path)


def mfw_heatmap(words: list[str], frequencies: dict[str, list[float]], top: int, path: Path) -> Path:
    frame = pd.DataFrame({SYSTEM_LABELS[g]: [1000 * f for f in freqs[:top]] for g, freqs in frequencies.items()},
                         index=words[:top])
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(frame) + 1.5))
    sns.heatmap(frame, annot=True, fmt=".1f", cmap="viridis", ax=ax, cbar_kws={"label": "每千词 per 1,000 words"})
    ax.set(title="高频词 Most frequent words of the author", ylabel="词 word")
    return save_png(fig, path)


def attribution_shares(systems: dict[str, dict], path: Path) -> Path:
    names = [s for s in ("base", "adapter", "fewshot") if s in systems]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    shares = [systems[s]["share"] or 0.0 for s in names]
    errors = [[shares[i] - (systems[s]["ci_low"] or 0.0) for i, s in enumerate(names)],
              [(systems[s]["ci_high"] or 0.0) - shares[i] for i, s in enumerate(names)]]
    sns.barplot(x=[SYSTEM_LABELS[s] for s in names], y=shares, ax=ax)
    ax.errorbar(range(len(names)), shares, yerr=errors, fmt="none", color="black", capsize=4)
    ax.set(title="判为作者的比例 Attributed to the author", ylabel="比例 share", ylim=(0, 1))
    return save_png(fig, path)


def mfw_pca(z: np.ndarray, groups: list[str], path: Path) -> Path:
    """Texts on the first two principal components of their MFW z-scores (as in R's stylo): the author's texts
    should form one cloud, and a good adapter's outputs should fall inside it."""
    pca = PCA(n_components=2, svd_solver="full")
    points = pca.fit_transform(z)
    share = pca.explained_variance_ratio_
    shown = [SYSTEM_LABELS[g] for g in groups]
    palette = {SYSTEM_LABELS[g]: GROUP_COLOURS[g] for g in groups}  # in order of first appearance
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    sns.scatterplot(x=points[:, 0], y=points[:, 1], hue=shown, style=shown, hue_order=list(palette),
                    style_order=list(palette), palette=palette, s=60, ax=ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), title=None)  # never over a point
    ax.set(title="高频词主成分 PCA of most-frequent-word frequencies",
           xlabel=f"主成分1 PC1 ({share[0]:.1%})", ylabel=f"主成分2 PC2 ({share[1]:.1%})")
    return save_png(fig, path)


def delta_linkage(z: np.ndarray) -> np.ndarray:
    """Average-linkage clustering of texts on their pairwise Cosine Delta: what delta_dendrogram draws."""
    return linkage(squareform(cosine_delta_matrix(z), checks=False), method="average")


def delta_dendrogram(z: np.ndarray, labels: list[str], groups: list[str], path: Path) -> Path:
    """Cosine Delta dendrogram of texts (as in R's stylo), leaf labels coloured by group: texts that share a
    branch with the author's own texts are stylistically closest to them."""
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(labels) + 1.5))
    tree = dendrogram(delta_linkage(z), labels=labels, orientation="left", ax=ax,
                      link_color_func=lambda _: "0.35")
    for tick, leaf in zip(ax.get_yticklabels(), tree["leaves"]):
        tick.set_color(GROUP_COLOURS[groups[leaf]])
    ax.legend(handles=[Patch(color=GROUP_COLOURS[g], label=SYSTEM_LABELS[g]) for g in dict.fromkeys(groups)],
              loc="upper center", bbox_to_anchor=(0.5, 0), borderaxespad=3.5,  # below the x label
              ncol=3, frameon=False)
    ax.grid(False, axis="y")
    ax.set(title="Cosine Delta 聚类 dendrogram", xlabel="Cosine Delta（平均连接 average linkage）")
    return save_png(fig, path)
