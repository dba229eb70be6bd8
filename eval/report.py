"""The thesis-facing report: report.md (tables + figures), report.html (the same, self-contained: figures
inlined) and tables.tex (booktabs tables for LaTeX), all built from metrics.json's numbers."""
import base64
import re
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from core.jsonio import write_atomic

SYSTEM_NAMES = {"author_heldout": "author (held-out)", "base": "base", "adapter": "adapter", "fewshot": "few-shot"}
MEASURE_NAMES = {"cosine_delta": "Cosine Delta (MFW)", "jsd_char_ngrams": "JSD char n-grams",
                 "jsd_punctuation": "JSD punctuation", "mattr": "MATTR",
                 "mean_sentence_length": "mean sentence length (words)"}


def num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def with_ci(stat: dict, digits: int = 3) -> str:
    if stat["ci_low"] is None:
        return num(stat["estimate"], digits)
    return f"{num(stat['estimate'], digits)} [{num(stat['ci_low'], digits)}, {num(stat['ci_high'], digits)}]"


def perplexity_table(perplexity: dict) -> pd.DataFrame:
    rows = []
    for name, section in (("author held-out", perplexity["author_heldout"]), ("reference", perplexity["reference"])):
        if section:
            rows.append({"text": name, "articles": section["articles"], "tokens": section["tokens"],
                         "base PPL": num(section["base"]["perplexity"], 4),
                         "adapter PPL": num(section["adapter"]["perplexity"], 4),
                         "relative change [CI]": with_ci(section["relative_change"]),
                         "Wilcoxon p": num(section["wilcoxon"]["p_value"])})
    return pd.DataFrame(rows)


def stylometry_table(style: dict) -> pd.DataFrame:
    rows = []
    for measure, label in MEASURE_NAMES.items():
        row = {"measure": label}
        for group in ("author_heldout", "base", "adapter", "fewshot"):
            row[SYSTEM_NAMES[group]] = with_ci(style["groups"][group][measure])
        comparison = style["comparisons"]["adapter_vs_base"][measure]
        row["adapter − base (distance) [CI]"] = with_ci(comparison["difference"])
        row["closer"] = comparison["closer"]
        row["Wilcoxon p"] = num(comparison["wilcoxon"]["p_value"])
        rows.append(row)
    return pd.DataFrame(rows)


def sentence_table(style: dict) -> pd.DataFrame:
    return pd.DataFrame([{"system": SYSTEM_NAMES[name], "sentences": t["n_x"], "KS D": num(t["ks_statistic"]),
                          "KS p": num(t["ks_p_value"]), "Mann–Whitney U": num(t["mannwhitney_u"]),
                          "MW p": num(t["mannwhitney_p_value"])}
                         for name, t in style["sentence_length_tests"].items()])


def attribution_table(attribution: dict) -> pd.DataFrame:
    rows = [{"texts": "author held-out (accuracy)", "n": attribution["heldout_author"]["n"],
             "share / accuracy [95% CI]": num(attribution["heldout_author"]["accuracy"])}]
    if attribution["heldout_reference"]["n"]:
        rows.append({"texts": "reference held-out (accuracy)", "n": attribution["heldout_reference"]["n"],
                     "share / accuracy [95% CI]": num(attribution["heldout_reference"]["accuracy"])})
    for name, s in attribution["systems"].items():
        rows.append({"texts": f"{SYSTEM_NAMES[name]} generations → author", "n": s["n"],
                     "share / accuracy [95% CI]": with_ci({"estimate": s["share"], "ci_low": s["ci_low"],
                                                          "ci_high": s["ci_high"]})})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    cells = [[str(c) for c in frame.columns]] + [[str(v).replace("|", "\\|") for v in row] for row in frame.values]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join([lines[0], "|" + "---|" * len(frame.columns), *lines[1:]])


# Characters pdflatex cannot typeset from UTF-8 input without extra packages.
LATEX_TEXT = {"−": "$-$", "–": "--", "→": "$\\rightarrow$"}


def latex_table(frame: pd.DataFrame, caption: str, label: str) -> str:
    tex = frame.to_latex(index=False, escape=True, caption=caption, label=f"tab:{label}",
                         column_format="l" + "r" * (len(frame.columns) - 1), position="htbp")
    for char, replacement in LATEX_TEXT.items():
        tex = tex.replace(char, replacement)
    return tex


def write(out_dir: Path, metrics: dict, figures: dict[str, Path]) -> None:
    tables = {
        "perplexity": ("Perplexity of base and adapter (token-weighted; relative change = adapter/base − 1)",
                       perplexity_table(metrics["perplexity"])),
        "stylometry": ("Stylometric distance to the author's held-out text (mean per text [bootstrap CI]; "
                       "lower = closer)", stylometry_table(metrics["stylometry"])),
        "sentences": ("Sentence lengths vs the author's held-out text", sentence_table(metrics["stylometry"])),
        "attribution": ("Authorship attribution (Wilson CI for shares)", attribution_table(metrics["attribution"])),
    }
    write_atomic(out_dir / "tables.tex", "% requires \\usepackage{booktabs}\n" + "\n".join(
        latex_table(frame, caption, name) for name, (caption, frame) in tables.items()))
    gen = metrics["generation"]
    lines = ["# Evaluation report", "",
             f"Seed {metrics['seed']}; {gen['prompts']} held-out prompts × {len(gen['output_chars'])} systems, "
             f"{gen['max_new_tokens']} new tokens each. Every number is in `metrics.json`; methods are in "
             "docs/evaluation.md.", ""]
    for name, (caption, frame) in tables.items():
        lines += [f"## {caption}", "", markdown_table(frame), ""]
    ab = metrics["ab"]
    lines += ["## Blind sheets", "",
              f"Files in `ab/`: {', '.join(ab['files'])}. The key (`ab/{ab['key']}`) stays with the evaluator; "
              "score raters' exports with `make ab-score RUN=… SHEETS=\"r1.json r2.json\"`.", ""]
    lines += ["## Figures", ""] + [f"![{name}](figures/{path.name})\n" for name, path in figures.items()]
    markdown = "\n".join(lines)
    write_atomic(out_dir / "report.md", markdown)
    write_atomic(out_dir / "report.html", _html(markdown, out_dir))


def _html(markdown: str, out_dir: Path) -> str:
    """The Markdown report as one HTML file, figures inlined as data URIs so it can be mailed as is."""
    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        data = base64.b64encode((out_dir / match.group(1)).read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="(figures/[^"]+\.png)"', inline, body)
    style = ("body{font-family:'Noto Sans CJK SC',sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}"
             "img{max-width:100%}")
    return (f'<!DOCTYPE html>\n<html lang="zh"><head><meta charset="utf-8"><title>Evaluation report</title>'
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")
