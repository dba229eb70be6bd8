"""Training rows from the kept chunks: at most one row per enabled template per chunk (prep/templates.py
says what each template asks), in the row contract of core/rows.py, with the token counts the report and
the trainer's budget use. `rows_for_chunk` runs in the worker processes: it counts with their tokenizer.
"""
from collections import Counter

from core.rows import RowMeta, SftRow
from prep import templates, tokens
from prep.chunk import Chunk
from prep.config import TemplateConfig
from prep.ingest import ArticleInfo

TEMPLATE_ORDER = ("continue", "expand", "rewrite")   # the order of one chunk's rows in the output


def rows_for_chunk(chunk: Chunk, info: ArticleInfo, paraphrase: str | None, settings: TemplateConfig,
                   seed: int) -> tuple[list[SftRow], Counter]:
    """The chunk's rows (in TEMPLATE_ORDER) and the rows it could not give, counted by reason. `paraphrase`
    is its accepted de-styled paraphrase for a rewrite row, or None."""
    counts: Counter = Counter()
    built: list[tuple[str, str, str, str | None, int]] = []   # template, user, target, prefix, target tokens
    if "continue" in settings.enabled:
        cut = templates.continue_cut(chunk.text, settings.continue_min_fraction, settings.continue_max_fraction,
                                     seed, chunk.chunk_id)
        if cut is None:
            counts["continue_no_sentence_boundary_in_range"] += 1
        else:
            prefix, target = chunk.text[:cut].rstrip(), chunk.text[cut:].lstrip()
            user = templates.user_prompt(seed, "continue", chunk.lang, chunk.chunk_id, prefix=prefix)
            if target in user:   # the chunk repeats itself: the answer would sit in the question
                counts["continue_target_inside_prompt_skipped"] += 1
            else:
                built.append(("continue", user, target, prefix, tokens.count([target])[0]))
    if "expand" in settings.enabled:
        outline = templates.outline(chunk.text, chunk.lang, settings.expand_keywords)
        built.append(("expand", templates.user_prompt(seed, "expand", chunk.lang, chunk.chunk_id, **outline),
                      chunk.text, None, chunk.tokens))
    if paraphrase is not None:
        built.append(("rewrite", templates.user_prompt(seed, "rewrite", chunk.lang, chunk.chunk_id,
                                                       paraphrase=paraphrase), chunk.text, None, chunk.tokens))
    prompt_tokens = tokens.prompt_tokens(settings.system_prompt, [user for _, user, _, _, _ in built])
    rows = [SftRow(settings.system_prompt, user, target, RowMeta(
        article_id=chunk.article_id, chunk_id=chunk.chunk_id, chunk_index=chunk.index, chunk_tokens=chunk.tokens,
        completion_tokens=target_tokens, date=info.date, lang=chunk.lang, prompt_tokens=prompt_count,
        short_chunk=chunk.short, split=chunk.split, template=template, title=info.title, year=info.year,
        prefix=prefix)) for (template, user, target, prefix, target_tokens), prompt_count in zip(built, prompt_tokens)]
    return rows, counts
