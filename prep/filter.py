"""Which cleaned articles go on to chunking, and what is taken out of them first.

In order: index pages (mostly link text) and pages with no text at all are skipped; boilerplate and in-article
repeats are removed (prep/boilerplate.py); personal data is scrubbed (prep/pii.py); an article left with
fewer than `clean.min_article_chars` characters is skipped, as "image_only" when what is left is no more
than its link text and it had images or links (a post of pictures under the account's header and footer),
else as "too_short_after_cleaning"; an exact duplicate of an earlier article (same whitespace-normalised
text) is skipped. Every skip is returned as a Problem with its reason; nothing is dropped silently.
"""
import hashlib
from collections import Counter
from dataclasses import dataclass

from core.text import detect_language
from prep import boilerplate, pii
from prep.clean import CleanArticle
from prep.config import CleanConfig, PiiConfig
from prep.ingest import ArticleInfo, Problem

INDEX_PAGE_MIN_LINKS = 5
BOILERPLATE_REPORTED = 20   # the most common boilerplate texts quoted in dataset_stats.json
QUOTE_CHARS = 80


@dataclass
class Article:
    info: ArticleInfo
    paragraphs: list[str]
    lang: str   # "zh" or "en" (core.text.detect_language)


def _not_an_article(info: ArticleInfo, cleaned: CleanArticle, settings: CleanConfig) -> Problem | None:
    """Why a page is not an article before anything is removed from it (None: it may be one)."""
    text_chars = sum(len(p) for p in cleaned.paragraphs)
    if (cleaned.counts["links_kept_as_text"] >= INDEX_PAGE_MIN_LINKS
            and cleaned.link_chars >= settings.index_link_share * text_chars):
        return Problem(info.path, "index_page", "mostly link text")
    if not cleaned.paragraphs:
        return Problem(info.path, "image_only" if cleaned.counts["images_dropped"] else "no_text_after_cleaning")
    return None


def _too_short(info: ArticleInfo, cleaned: CleanArticle, text: str, settings: CleanConfig) -> Problem:
    chars = len(text.replace("\n", ""))
    if chars <= cleaned.link_chars and (cleaned.counts["images_dropped"] or cleaned.counts["links_kept_as_text"]):
        return Problem(info.path, "image_only", f"{chars} characters left besides images and links")
    return Problem(info.path, "too_short_after_cleaning",
                   f"{len(text)} characters left (clean.min_article_chars={settings.min_article_chars})")


def filter_articles(cleaned: list[tuple[ArticleInfo, CleanArticle]], settings: CleanConfig, pii_settings: PiiConfig,
                    counts: Counter) -> tuple[list[Article], list[Problem], list[dict]]:
    """The articles kept (in input order), the ones skipped with their reasons, and the most common
    boilerplate texts (scrubbed like the articles: footers carry e-mail addresses)."""
    problems: list[Problem] = []
    candidates: list[tuple[ArticleInfo, CleanArticle]] = []
    for info, article in cleaned:
        counts.update(article.counts)   # what cleaning dropped, reported for every page read
        problem = _not_an_article(info, article, settings)
        if problem:
            problems.append(problem)
        else:
            candidates.append((info, article))
    found, threshold = boilerplate.find([a.paragraphs for _, a in candidates], settings.boilerplate_min_articles,
                                        settings.boilerplate_min_share, settings.boilerplate_min_chars)
    counts["boilerplate_threshold_articles"] = threshold
    scrub = (lambda text: pii.scrub(text, pii_settings.kinds, counts)) if pii_settings.enabled else (lambda text: text)
    kept: list[Article] = []
    first_by_text: dict[str, str] = {}
    for info, article in candidates:
        paragraphs = [scrub(p) for p in boilerplate.remove(article.paragraphs, found, settings.repeat_min_chars, counts)]
        text = "\n\n".join(paragraphs)
        if len(text.replace("\n", "")) < settings.min_article_chars:
            problems.append(_too_short(info, article, text, settings))
            continue
        digest = hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()
        if digest in first_by_text:
            problems.append(Problem(info.path, "duplicate_article", f"same text as {first_by_text[digest]}"))
            continue
        first_by_text[digest] = info.article_id
        kept.append(Article(info, paragraphs, detect_language(text)))
    quote = (lambda text: pii.scrub(text, pii_settings.kinds, Counter())) if pii_settings.enabled else (lambda text: text)
    most_common = [{"articles": n, "text": quote(k)[:QUOTE_CHARS]}
                   for k, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:BOILERPLATE_REPORTED]]
    return kept, problems, most_common
