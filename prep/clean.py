"""Markdown -> plain paragraphs, through markdown-it-py's token stream.

Dropped: images, bare URLs/autolinks, HTML tags (their text stays), YAML front matter, fenced code.
Kept: link text, inline code text, the author's own punctuation and spacing inside lines, and paragraphs
as paragraphs (joined by a blank line). Indented code is disabled on purpose: many Chinese authors indent
paragraphs, and those are prose, not code.
"""
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

_MD = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable("linkify").use(front_matter_plugin).enable("table").disable("code")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_BLOCK_TAGS = {"p", "div", "section", "article", "blockquote", "li", "tr", "h1", "h2", "h3", "h4", "h5",
                    "h6", "pre", "table", "ul", "ol", "header", "footer", "figure", "figcaption"}
_ASCII_RUN = re.compile(r"\s*[\x21-\x7e]+")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


@dataclass
class CleanArticle:
    paragraphs: list[str]
    counts: Counter = field(default_factory=Counter)   # what was dropped, by kind
    link_chars: int = 0


class _HtmlText(HTMLParser):
    """Text of an HTML fragment; block tags and <br> become paragraph / line breaks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags = 0
        self.images = 0
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "img":
            self.images += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _HTML_BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _HTML_BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _html_paragraphs(html: str, counts: Counter) -> list[str]:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    counts["html_tags_dropped"] += parser.tags
    counts["images_dropped"] += parser.images
    return [p.strip("\n") for p in re.split(r"\n\s*\n", "".join(parser.parts)) if p.strip()]


def _inline_text(children, counts: Counter) -> tuple[str, int]:
    """Text of an inline token's children, and how many characters of it were link text."""
    out: list[str] = []
    link_chars = 0
    link_stack: list[tuple[str, int]] = []   # (href, index in out where the link text starts)
    for tok in children:
        if tok.type == "text" or tok.type == "code_inline":
            out.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif tok.type == "image":
            counts["images_dropped"] += 1
        elif tok.type == "html_inline":
            counts["html_tags_dropped"] += 1
            if _BR.fullmatch(tok.content.strip()):
                out.append("\n")
        elif tok.type == "link_open":
            link_stack.append((tok.attrs.get("href", ""), len(out)))
        elif tok.type == "link_close" and link_stack:
            href, start = link_stack.pop()
            text = "".join(out[start:])
            if text.strip() == href.strip() or text.strip().startswith(("http://", "https://", "www.")):
                # A bare URL: drop it, but linkify swallows CJK text glued to it ("网址x.com，好的"): keep that.
                glued = text[_ASCII_RUN.match(text).end():] if _ASCII_RUN.match(text) else ""
                del out[start:]
                out.append(glued)
                counts["urls_dropped"] += 1
            else:
                counts["links_kept_as_text"] += 1
                link_chars += len(text)
    return "".join(out), link_chars


def markdown_to_paragraphs(markdown: str) -> CleanArticle:
    counts: Counter = Counter()
    paragraphs: list[str] = []
    link_chars = 0
    cell_texts: list[str] | None = None
    for tok in _MD.parse(markdown):
        if tok.type == "front_matter":
            counts["front_matter_dropped"] += 1
        elif tok.type == "fence":
            counts["code_blocks_dropped"] += 1
        elif tok.type == "html_block":
            paragraphs.extend(_html_paragraphs(tok.content, counts))
        elif tok.type == "table_open":
            cell_texts = []
        elif tok.type == "table_close" and cell_texts is not None:
            if cell_texts:
                paragraphs.append("  ".join(cell_texts))
            cell_texts = None
        elif tok.type == "inline":
            text, chars = _inline_text(tok.children or [], counts)
            link_chars += chars
            text = _TRAILING_SPACE.sub("", text).strip("\n")
            if not text.strip():
                continue
            if cell_texts is not None:
                cell_texts.append(text)
            else:
                paragraphs.append(text)
    return CleanArticle(paragraphs=paragraphs, counts=counts, link_chars=link_chars)
