"""The thesis-facing report: report.md, report.html (the same, self-contained: figures inlined) and tables.tex
(booktabs tables for LaTeX), all built from metrics.json's numbers. It opens with what a reader should know
before any number: samples of every system's text, then a verdict in words (which systems fail the
degenerate-text guard, whether the controls behaved, how much of the perplexity gain is this author's)."""
import base64
import re
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from core.jsonio import write_atomic

SYSTEMS = ("base", "adapter", "fewshot")
SYSTEM_NAMES = {"author_heldout": "author (held-out)", "base": "base", "adapter": "adapter", "fewshot": "few-shot",
                "reference": "reference author", "shuffled_author": "author, characters shuffled (control)"}
CONTROL_NAMES = {"author_heldout": "control: author's real held-out passages",
                 "shuffled_author": "control: the same passages, characters shuffled within sentences"}
MEASURE_NAMES = {"cosine_delta": "Cosine Delta (MFW)", "jsd_char_ngrams": "JSD char n-grams",
                 "jsd_punctuation": "JSD punctuation", "mattr": "MATTR",
                 "mean_sentence_length": "mean sentence length (words)"}


def num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:+.1f} %"


def with_ci(stat: dict, digits: int = 3) -> str:
    """estimate [low, high] (n=…); the method is named when BCa had to fall back."""
    text = num(stat["estimate"], digits)
    if stat.get("ci_low") is not None:
        text += f" [{num(stat['ci_low'], digits)}, {num(stat['ci_high'], digits)}]"
    if stat.get("n") is not None:
        text += f" (n={stat['n']})"
    return text


def share_with_ci(s: dict) -> str:
    return with_ci({"estimate": s["share"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n": s["n"]})


def specific_words(gain: dict) -> str:
    """An author-specific gain whose interval excludes zero, graded by how much of the whole gain it is: an
    adapter can be surely, and only slightly, better on this author than on another."""
    share = gain["author_share_of_gain"]
    if share is not None and share < 0.25:
        return (f"this author's, but a small part: {100 * share:.0f} % of the adapter's gain on the author is "
                "specific to this author; **most of it is the language (or the era's prose) in general**.")
    return "this author's: the adapter predicts this author better than another."


def verdict_words(check: dict) -> str:
    return "passes" if check["passes"] else "FAILS: " + ", ".join(check["failed"])


def summary_lines(metrics: dict) -> list[str]:
    """The findings in words, in the order a sceptical reader asks: is the text usable, did the controls work,
    is the gain this author's, does anything copy."""
    guard, lines = metrics["guard"], []
    for name in SYSTEMS:
        v = guard["systems"][name]
        if v["flagged"]:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(v["by_reason"].items()) if n)
            lines.append(f"- **{SYSTEM_NAMES[name]}: its outputs fail the degenerate-text guard** ({v['failing']} of "
                         f"{v['n']} texts: {reasons}). Its style and attribution numbers below are **not "
                         "interpretable**: a statistic of broken text says nothing about style.")
        else:
            lines.append(f"- {SYSTEM_NAMES[name]}: passes the degenerate-text guard ({v['failing']} of {v['n']} "
                         "texts fail).")
    real, shuffled = guard["controls"]["author_heldout"], guard["controls"]["shuffled_author"]
    attributed = metrics["attribution"]["classifiers"]["char_ngram"]["controls"]["shuffled_author"]
    if real["flagged"] or not shuffled["flagged"]:
        lines.append("- **WARNING: the guard failed its own controls** (the author's real text must pass and the "
                     "shuffled text must be flagged); treat every guard verdict in this report as unreliable.")
    else:
        lines.append(f"- Controls behaved: the author's real held-out passages pass ({real['failing']} of {real['n']} "
                     f"fail); the same passages with characters shuffled within sentences are flagged "
                     f"({shuffled['failing']} of {shuffled['n']} fail) and {attributed['attributed_to_author']} of "
                     f"{attributed['n']} are attributed to the author.")
    gain = metrics["perplexity"]["author_specific_gain"]
    did = gain["difference_in_relative_change"]
    specific = did["ci_high"] is not None and did["ci_high"] < 0
    lines.append(
        f"- Perplexity: the adapter changes perplexity by {pct(gain['author_relative_change'])} on the author's "
        f"held-out text and by {pct(gain['reference_relative_change'])} on the reference author's text. The "
        f"difference, {pct(did['estimate'])} [{pct(did['ci_low'])}, {pct(did['ci_high'])}] "
        f"({gain['n_author_articles']} + {gain['n_reference_articles']} articles), is the part of the gain that is "
        + (specific_words(gain) if specific else
           "this author's; its interval does not exclude zero, so **the gain cannot be told apart from learning the "
           "language (or the era's prose) in general**."))
    for name in SYSTEMS:
        c = metrics["copying"]["systems"][name]
        if c["above_author_rate"]:
            lines.append(f"- {SYSTEM_NAMES[name]} copies from the training text more than the author does: "
                         f"{num(c['system']['ngram8_share']['mean'])} of its 8-grams are in the training text, "
                         f"against {num(c['author_baseline']['ngram8_share']['mean'])} for the author's own held-out "
                         "text.")
    return lines


def small_n_warnings(metrics: dict) -> list[str]:
    floor = metrics["statistics"]["min_articles_for_intervals"]
    found = []
    for name in ("author_heldout", "reference"):
        n = metrics["perplexity"][name]["articles"]
        if n < floor:
            found.append(f"- The perplexity interval on the {SYSTEM_NAMES[name]} text rests on {n} articles (fewer "
                         f"than {floor}): read it as a rough range, not a precise one.")
    prompts = metrics["generation"]["prompts"]
    if prompts < floor:
        found.append(f"- Style and attribution intervals rest on {prompts} prompts per system (fewer than {floor}).")
    return found


def samples_section(samples: list[dict]) -> list[str]:
    lines = ["## Samples: read these first", "",
             "The same held-out prompts answered by the author (the real text) and by each system, with the "
             "degenerate-text guard's verdict on each output.", ""]
    for s in samples:
        task = s["task"].replace("\n", " ")
        lines += [f"### {s['item_id']} ({s['template']})", "", f"> {task}", ""]
        cells = {"author (real)": s["real"], **{SYSTEM_NAMES[n]: s["outputs"][n] for n in SYSTEMS}}
        verdicts = {"author (real)": "", **{SYSTEM_NAMES[n]: verdict_words(s["guard"][n]) for n in SYSTEMS}}
        frame = pd.DataFrame([{k: v.replace("<", "&lt;").replace("\n", "<br>") for k, v in cells.items()}, verdicts])
        lines += [markdown_table(frame), ""]
    return lines


def guard_table(guard: dict) -> pd.DataFrame:
    groups = {**{SYSTEM_NAMES[n]: guard["systems"][n] for n in SYSTEMS},
              **{CONTROL_NAMES[n]: guard["controls"][n] for n in guard["controls"]}}
    return pd.DataFrame([{"texts": name, "n": v["n"], "failing": v["failing"], "flagged": "yes" if v["flagged"] else "no",
                          "median distinct-2": num(v["median"]["distinct_2"]),
                          "median longest repeat": num(v["median"]["longest_repeat_share"]),
                          "median foreign script": num(v["median"]["foreign_script_share"]),
                          "median fluency ratio": num(v["median"]["fluency_ratio"]),
                          "median prompt echo": num(v["median"]["prompt_echo_share"]),
                          "failures by reason": ", ".join(f"{r} {c}" for r, c in sorted(v["by_reason"].items()) if c)
                          or "–"}
                         for name, v in groups.items()])


def copying_table(copying: dict) -> pd.DataFrame:
    rows = []
    for name in SYSTEMS:
        c = copying["systems"][name]
        rows.append({"system": SYSTEM_NAMES[name], "n": c["system"]["n"],
                     "8-grams in training text (mean)": num(c["system"]["ngram8_share"]["mean"]),
                     "longest common substring (median / max chars)":
                         f"{num(c['system']['longest_common_substring']['median'])} / "
                         f"{num(c['system']['longest_common_substring']['max'])}",
                     "author's own rate (mean)": num(c["author_baseline"]["ngram8_share"]["mean"]),
                     "author's longest common substring (max)":
                         num(c["author_baseline"]["longest_common_substring"]["max"]),
                     "above the author's rate": "yes" if c["above_author_rate"] else "no"})
    return pd.DataFrame(rows)


def perplexity_table(perplexity: dict) -> pd.DataFrame:
    rows = []
    for name, section in (("author held-out", perplexity["author_heldout"]), ("reference author", perplexity["reference"])):
        rows.append({"text": name, "articles": section["articles"], "tokens": section["tokens"],
                     "base PPL": num(section["base"]["perplexity"], 4),
                     "adapter PPL": num(section["adapter"]["perplexity"], 4),
                     "base / adapter PPL per char": f"{num(section['base']['perplexity_per_char'], 4)} / "
                                                    f"{num(section['adapter']['perplexity_per_char'], 4)}",
                     "relative change [CI]": with_ci(section["relative_change"]),
                     "Wilcoxon p": num(section["wilcoxon"]["p_value"])})
    did = perplexity["author_specific_gain"]["difference_in_relative_change"]
    rows.append({"text": "author − reference (author-specific gain)", "articles": "–", "tokens": "–",
                 "base PPL": "–", "adapter PPL": "–", "base / adapter PPL per char": "–",
                 "relative change [CI]": with_ci(did), "Wilcoxon p": "–"})
    return pd.DataFrame(rows)


def stylometry_table(style: dict) -> pd.DataFrame:
    rows = []
    for measure, label in MEASURE_NAMES.items():
        kind = style["measure_kinds"][measure]
        row = {"measure": label, "row holds": kind}
        for group in ("author_heldout", "reference", *SYSTEMS):
            row[SYSTEM_NAMES[group]] = with_ci(style["groups"][group][measure])
        comparison = style["comparisons"]["adapter_vs_base"][measure]
        row["adapter − base, distance [CI]"] = with_ci(comparison["difference"])
        row["closer"] = comparison["closer"]
        row["Wilcoxon p / Holm p"] = f"{num(comparison['wilcoxon']['p_value'])} / {num(comparison['p_holm'])}"
        row["note"] = "; ".join(comparison["notes"]) or "–"
        rows.append(row)
    return pd.DataFrame(rows)


def sentence_table(style: dict) -> pd.DataFrame:
    return pd.DataFrame([{"system": SYSTEM_NAMES[name], "sentences": t["n_x"], "KS D": num(t["ks_statistic"]),
                          "KS p": num(t["ks_p_value"]), "Mann–Whitney U": num(t["mannwhitney_u"]),
                          "MW p": num(t["mannwhitney_p_value"])}
                         for name, t in style["sentence_length_tests"].items()])


def attribution_table(attribution: dict) -> pd.DataFrame:
    rows = []
    for classifier, result in attribution["classifiers"].items():
        rows.append({"classifier": classifier, "texts": "author held-out (accuracy)",
                     "n": result["heldout_author"]["n"], "classifier share": num(result["heldout_author"]["accuracy"]),
                     "attributed (passes guard and classified author) [CI]": "–"})
        rows.append({"classifier": classifier, "texts": "reference held-out (accuracy)",
                     "n": result["heldout_reference"]["n"], "classifier share": num(result["heldout_reference"]["accuracy"]),
                     "attributed (passes guard and classified author) [CI]": "–"})
        for group, names in (("systems", SYSTEMS), ("controls", sorted(result["controls"]))):
            for name in names:
                s = result[group][name]
                label = f"{SYSTEM_NAMES[name]} generations" if group == "systems" else CONTROL_NAMES[name]
                rows.append({"classifier": classifier, "texts": label, "n": s["n"],
                             "classifier share": num(s["classifier_share"]),
                             "attributed (passes guard and classified author) [CI]": share_with_ci(s)})
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


def write(out_dir: Path, metrics: dict, samples: list[dict], figures: dict[str, Path]) -> None:
    level = f"{metrics['statistics']['confidence_level']:.0%}"
    method = metrics["statistics"]["bootstrap_method"]
    tables = {
        "guard": ("Degenerate-text guard (per text: character-bigram diversity, longest repeated substring, "
                  "characters outside the author's and reference's scripts, per-character perplexity under the base "
                  "model relative to the author's real text, share of 8-grams repeated from its own prompt; a group "
                  "is flagged when more than "
                  f"{metrics['guard']['limits']['max_failing_share']:.0%} of its texts fail)",
                  guard_table(metrics["guard"])),
        "copying": ("Copying from the author's training text (character 8-grams found there; longest common "
                    "substring), beside the author's own held-out text as the natural rate", copying_table(metrics["copying"])),
        "perplexity": (f"Perplexity of base and adapter (token-weighted; relative change = adapter/base − 1; {level} "
                       f"{method} bootstrap CI over articles, n = articles)", perplexity_table(metrics["perplexity"])),
        "stylometry": (f"Stylometry: each group's mean per text [{level} CI] (n = texts). Rows marked 'distance' are "
                       "distances to the author's held-out text (lower = closer); rows marked 'raw value' are the "
                       "measure itself, and the comparison uses its distance |value − author's mean|. Holm p is "
                       "corrected over every Wilcoxon test in the stylometry family", stylometry_table(metrics["stylometry"])),
        "sentences": ("Sentence lengths vs the author's held-out text (raw p-values)", sentence_table(metrics["stylometry"])),
        "attribution": (f"Authorship attribution, two classifiers (negatives: {metrics['attribution']['negatives']}; "
                        f"passages of {metrics['attribution']['passage_chars']} characters; Wilson {level} CI)",
                        attribution_table(metrics["attribution"])),
    }
    write_atomic(out_dir / "tables.tex", "% requires \\usepackage{booktabs}\n" + "\n".join(
        latex_table(frame, caption, name) for name, (caption, frame) in tables.items()))
    gen = metrics["generation"]
    lines = ["# Evaluation report", "",
             f"Seed {metrics['seed']}; {gen['prompts']} held-out prompts × {len(SYSTEMS)} systems, "
             f"{gen['max_new_tokens']} new tokens each; {metrics['data']['heldout_articles']} held-out articles; "
             f"reference author: {metrics['data']['reference_articles']} articles. Every number is in `metrics.json`; "
             "methods are in docs/evaluation.md.", "", "## What this evaluation says", "", *summary_lines(metrics), ""]
    warnings = small_n_warnings(metrics)
    if warnings:
        lines += ["## Small samples", "", *warnings, ""]
    lines += samples_section(samples)
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
    style = ("body{font-family:'Noto Sans CJK SC',sans-serif;max-width:80em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
             "vertical-align:top}img{max-width:100%}")
    return (f'<!DOCTYPE html>\n<html lang="zh"><head><meta charset="utf-8"><title>Evaluation report</title>'
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")
