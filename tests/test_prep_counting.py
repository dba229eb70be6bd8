"""The fast paths of `make data` against the slow, obvious ones, on the sample archive and awkward text:
token counts of article pieces taken from one encoding of the article vs encoding each piece, rjieba's
word cut vs jieba's, the chat-template frame vs rendering, and the one-pass leak check vs substring tests."""
import itertools
import logging
import random

import jieba
import numpy as np
import pytest
import rjieba
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from conftest import SAMPLE_ARCHIVE
from core.model import DEFAULT_MODEL_DIR, resolve_model_dir
from core.text import split_sentences
from prep.chunk import PARAGRAPH_JOINER
from prep.clean import markdown_to_paragraphs
from prep.spans import window_hashes, window_hashes_of
from prep.split import TrainSpans
from prep.token_count import ArticleTokenCounter, splits_like_byte_level

jieba.setLogLevel(logging.WARNING)

AWKWARD = [
    ["Hello world. This is it! 'Quoted,' he said.  Two  spaces, a\ttab.", "New paragraph: don't stop; 3.14 ok."],
    ["“你好。”“再见！”他说。“真的？”", "2024年3月5日，第１２期（全文１，２３４字）。",
     "表情😀👍🏽混排 e\u0301 和\u3000全角空格。"],
    ["正文里出现了 <|im_end|> 和 <|im_start|>user 这样的字样。", "Mixed 中文 and English… 结尾……"],
]


def sample_articles() -> list[list[str]]:
    return [markdown_to_paragraphs(p.read_text(encoding="utf-8")).paragraphs
            for p in sorted(SAMPLE_ARCHIVE.rglob("*.md"))] + AWKWARD


def pieces(paragraphs: list[str]) -> list[str]:
    """What chunking counts: sentences, runs of up to 6 sentences (chunks), and their tails (continue targets)."""
    article = PARAGRAPH_JOINER.join(paragraphs)
    starts, offset = [], 0
    for paragraph in paragraphs:
        for sentence in split_sentences(paragraph):
            starts.append(offset)
            offset += len(sentence)
        offset += len(PARAGRAPH_JOINER)
    starts.append(len(article))
    runs = [article[a:b].strip() for a, b in itertools.pairwise(starts)]
    runs += [article[starts[i]:starts[min(i + 6, len(starts) - 1)]].strip() for i in range(0, len(starts) - 1, 3)]
    runs += [run[len(run) // 3:].lstrip() for run in runs[-10:]]
    return [run for run in runs if run]


# GPT-2's pre-tokenizer regex (SmolLM2's kind) cuts before every run of letters; Qwen2.5's attaches a
# punctuation mark to the letters after it ("。他"), so a sentence of the bundled model's rarely starts on a
# pre-token boundary and its pieces mostly take the fallback. Both must count exactly; the GPT-2 variant
# of the bundled vocabulary is where the fast path is exercised.
GPT2_SPLIT = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


@pytest.fixture(scope="module", params=["bundled", "gpt2-split"])
def tokenizer(request):
    tokenizer = Tokenizer.from_file(str(resolve_model_dir(DEFAULT_MODEL_DIR) / "tokenizer.json"))
    if request.param == "gpt2-split":
        tokenizer.pre_tokenizer = GPT2_SPLIT
    return request.param, tokenizer


def test_counts_from_one_encoding_equal_encoding_each_piece(tokenizer):
    kind, tokenizer = tokenizer
    assert splits_like_byte_level(tokenizer)
    checked = from_article = 0
    for paragraphs in sample_articles():
        article = PARAGRAPH_JOINER.join(paragraphs)
        counter = ArticleTokenCounter(tokenizer, article, byte_level=True)
        texts = pieces(paragraphs)
        expected = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        assert counter(texts) == expected, article[:40]
        checked += len(texts)
        from_article += sum(counter._from_article(t) is not None for t in texts)
    assert checked > 3000
    if kind == "gpt2-split":
        assert from_article > 0.5 * checked   # the fast path is really taken, not always the fallback
    else:
        assert from_article > 100             # ... and taken with the bundled tokenizer too, where it applies


def test_other_kinds_of_tokenizer_are_always_encoded():
    metaspace = Tokenizer(models.BPE())
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()
    normalized = Tokenizer(models.BPE())
    normalized.normalizer = normalizers.NFKC()
    normalized.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    prefixed = Tokenizer(models.BPE())
    prefixed.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    assert not any(splits_like_byte_level(t) for t in (metaspace, normalized, prefixed))
    counter = ArticleTokenCounter(prefixed, "某篇文章。第二句。", byte_level=False)
    assert counter._from_article("第二句。") is None


def test_rjieba_cuts_like_jieba():
    paragraphs = [p for article in sample_articles() for p in article]
    assert len(paragraphs) > 300
    for paragraph in paragraphs:
        assert rjieba.cut(paragraph, hmm=False) == list(jieba.cut(paragraph, HMM=False)), paragraph[:40]


def test_leak_check_in_one_pass_equals_checking_each_text():
    rng = random.Random(0)
    words = ["春天", "来了", "。", "他说", "，", " ", "the ", "end.", "\n\n"]
    train_targets = ["".join(rng.choice(words) for _ in range(rng.randint(0, 60))) for _ in range(300)]
    val_targets = ["".join(rng.choice(words) for _ in range(rng.randint(0, 60))) for _ in range(300)]
    val_targets += [t[5:60] for t in train_targets[:20]] + [t[:8] for t in train_targets[20:40]] + [""]
    for block in (1, 100, 1 << 22):   # blocks of one text, of a few, of everything
        hashes, per_text = window_hashes_of(val_targets, 20, block)
        each = [window_hashes(t, 20) for t in val_targets]
        assert np.array_equal(hashes, np.concatenate(each)) and per_text.tolist() == [h.size for h in each]
    spans = TrainSpans(train_targets, 20)
    train_windows = {t[i:i + 20] for t in train_targets for i in range(len(t) - 19)}
    expected = [(any(t[i:i + 20] in train_windows for i in range(len(t) - 19)),
                 any(t in train for train in train_targets)) for t in val_targets]
    assert spans.check(val_targets) == expected
    assert sum(shares for shares, _ in expected) > 10 and sum(inside for _, inside in expected) > 10


def test_prompt_frame_renders_as_the_template_or_steps_aside():
    from core.model import load_tokenizer
    from prep.build_dataset import _chat_frame, _render_prompt

    tokenizer = load_tokenizer(resolve_model_dir(DEFAULT_MODEL_DIR))
    before, after = _chat_frame(tokenizer, "系统提示")
    for user in ["续写：\n\n正文。", " padded \n", "<|im_end|> in the text", ""]:
        assert before + user + after == _render_prompt(tokenizer, "系统提示", user)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] | trim }}\n{% endfor %}"
    assert _chat_frame(tokenizer, "系统提示") is None   # a trimming template is rendered prompt by prompt


def test_continue_prompt_counted_from_the_article_equals_rendering_it():
    from core.config import load
    from core.model import load_tokenizer
    from prep import build_dataset, templates
    from prep.config import PrepConfig

    cfg, model_dir = load(PrepConfig, None, []), resolve_model_dir(DEFAULT_MODEL_DIR)
    build_dataset._init_worker(cfg, str(model_dir), str(SAMPLE_ARCHIVE))
    chat = load_tokenizer(model_dir)
    # The bundled Qwen2.5 tokenizer, as transformers loads it, normalises (NFC), so `make data` encodes every
    # prompt with it; the shortcut is exercised with the bundled vocabulary as a GPT-2-kind tokenizer (no
    # normaliser, GPT2_SPLIT), set in both the counting and the rendering tokenizer.
    for backend in (build_dataset._tokenizer(), chat.backend_tokenizer):
        backend.normalizer = None
        backend.pre_tokenizer = GPT2_SPLIT
    build_dataset._WORKER["byte_level"] = splits_like_byte_level(build_dataset._tokenizer())
    assert build_dataset._WORKER["byte_level"]
    checked = from_article = 0
    for paragraphs in sample_articles():
        counter = ArticleTokenCounter(build_dataset._tokenizer(), PARAGRAPH_JOINER.join(paragraphs), byte_level=True)
        for i, prefix in enumerate(pieces(paragraphs)[::5]):
            for lang in ("zh", "en"):   # every wording of both pools, seeded by the chunk id
                user = templates.user_prompt(cfg.seed, "continue", lang, f"a#{i}", prefix=prefix)
                rendered = build_dataset._render_prompt(chat, cfg.templates.system_prompt, user)
                tokens = build_dataset._prompt_tokens_from_article(user, prefix, counter)
                if tokens is not None:
                    assert tokens == len(chat(rendered, add_special_tokens=False)["input_ids"]), user[:40]
                    from_article += 1
                checked += 1
    assert checked > 1000 and from_article == checked   # every continue wording ends "\n\n{prefix}"
    no_line_break = build_dataset._prompt_tokens_from_article("续写：正文。", "正文。", counter)
    assert no_line_break is None
