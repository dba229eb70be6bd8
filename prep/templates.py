"""The three training tasks built from one chunk, honestly: the target never sits inside its own prompt.

continue: the user gets the first 30-50 % of the chunk (cut at a sentence end), the target is the rest.
expand:   the user gets an outline (jieba keywords, paragraph count, length), the target is the chunk.
rewrite:  the user gets a de-styled paraphrase (prep/paraphrase.py), the target is the chunk.
Instruction wording is drawn from a small pool per template and language, seeded per chunk.
"""
import logging

import jieba
import jieba.analyse
import rjieba

from core.seed import stable_unit
from core.text import split_paragraphs, split_sentences

jieba.setLogLevel(logging.WARNING)

PROMPT_POOLS = {
    "continue": {
        "zh": ["接着下面的开头继续写下去：\n\n{prefix}", "续写这段文字，保持原来的语气：\n\n{prefix}",
               "这是一篇文章的开头，请写出后文：\n\n{prefix}", "请顺着这段话往下写：\n\n{prefix}"],
        "en": ["Continue this text:\n\n{prefix}", "Carry on writing from here, in the same voice:\n\n{prefix}",
               "This is the opening of a piece. Write what follows:\n\n{prefix}", "Keep writing after this:\n\n{prefix}"],
    },
    "expand": {
        "zh": ["根据下面的提纲写一段文字，约{chars}字，分{paragraphs}段。\n关键词：{keywords}",
               "围绕这些关键词写作（约{chars}字，{paragraphs}段）：{keywords}",
               "以下是要点：{keywords}。请据此写成约{chars}字、{paragraphs}段的文字。",
               "提纲：{keywords}\n请扩写成一篇约{chars}字的短文，共{paragraphs}段。"],
        "en": ["Write about {chars} characters in {paragraphs} paragraph(s) from this outline.\nKeywords: {keywords}",
               "Write a passage (about {chars} characters, {paragraphs} paragraph(s)) around these keywords: {keywords}",
               "Key points: {keywords}. Turn them into about {chars} characters of prose in {paragraphs} paragraph(s).",
               "Outline: {keywords}\nExpand it into a short piece of about {chars} characters, {paragraphs} paragraph(s)."],
    },
    "rewrite": {
        "zh": ["用你自己的文风改写下面这段文字：\n\n{paraphrase}", "把这段平铺直叙的文字改写成你的风格：\n\n{paraphrase}",
               "请按你的写法重写：\n\n{paraphrase}", "下面是一段内容概述，请用你的笔调写出来：\n\n{paraphrase}"],
        "en": ["Rewrite this passage in your own style:\n\n{paraphrase}", "Put this plain text into your voice:\n\n{paraphrase}",
               "Rewrite the following the way you would write it:\n\n{paraphrase}",
               "Here is the content in neutral words; write it as you would:\n\n{paraphrase}"],
    },
}


def user_prompt(seed: int, template: str, lang: str, chunk_id: str, **fields) -> str:
    """The user turn: a wording from the template's pool (seeded per chunk), filled in with `fields`."""
    pool = PROMPT_POOLS[template][lang]
    return pool[int(stable_unit(seed, "wording", template, chunk_id) * len(pool))].format(**fields)


def continue_cut(text: str, lo: float, hi: float, seed: int, chunk_id: str) -> int | None:
    """A sentence boundary whose position is within [lo, hi] of the chunk, nearest a seeded target; None if none."""
    target = lo + (hi - lo) * stable_unit(seed, "continue", chunk_id)
    best, offset = None, 0
    for sentence in split_sentences(text)[:-1]:
        offset += len(sentence)
        share = offset / len(text)
        if lo <= share <= hi and (best is None or abs(share - target) < abs(best / len(text) - target)):
            best = offset
    return best


def keywords(text: str, count: int) -> list[str]:
    """TF-IDF keywords with jieba's own IDF table and stop words (as jieba.analyse.extract_tags). The cut is
    rjieba's (jieba-rs: jieba's algorithm and dictionary in Rust, ~15x faster; tests check it cuts as jieba
    does) without the HMM pass, which the outline does not need: it only wants dictionary words."""
    tfidf = jieba.analyse.default_tfidf
    freq: dict[str, float] = {}
    for word in rjieba.cut(text, hmm=False):
        if len(word.strip()) >= 2 and word.lower() not in tfidf.stop_words:
            freq[word] = freq.get(word, 0.0) + tfidf.idf_freq.get(word, tfidf.median_idf)
    return [w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:count]]


def outline(text: str, lang: str, keyword_count: int) -> dict:
    keywords_found = keywords(text, keyword_count)
    chars = len(text.replace("\n", ""))
    return {"keywords": ("、" if lang == "zh" else ", ").join(keywords_found),
            "chars": max(10, round(chars, -1)), "paragraphs": len(split_paragraphs(text))}
