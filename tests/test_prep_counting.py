"""The counts and fast paths of `make data` against the slow, obvious ones, on the sample archive and awkward
text: token counts (prep/tokens.py) against the tokenizer's own call for every bundled tokenizer installed,
rendered prompt counts against the chat template's tokenization, rjieba's word cut against jieba's, and the
one-pass leak check against substring tests."""
import logging
import random

import jieba
import numpy as np
import pytest
import rjieba

from conftest import SAMPLE_ARCHIVE
from core.bundled_models import BUNDLED
from core.manifest import REPO_ROOT
from core.model import load_tokenizer, resolve_model_dir
from core.text import split_sentences
from prep import tokens
from prep.clean import markdown_to_paragraphs
from prep.spans import window_hashes, window_hashes_of
from prep.split import TrainSpans

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
    """What `make data` counts: sentences, paragraphs, whole articles and their tails (continue targets)."""
    article = "\n\n".join(paragraphs)
    return ([s for p in paragraphs for s in split_sentences(p)] + paragraphs + [article, article[len(article) // 3:]])


def installed_bundled_models() -> list:
    return [pytest.param(model.model_dir, marks=pytest.mark.skipif(
        not (REPO_ROOT / model.model_dir / "config.json").is_file(),
        reason=f"{model.model_dir} not converted here (make setup BASE={name})")) for name, model in sorted(BUNDLED.items())]


@pytest.fixture(scope="module", params=installed_bundled_models())
def tokenizer(request):
    """prep/tokens.py's tokenizer, loaded into this process as a worker process loads it."""
    tokens.load(str(resolve_model_dir(request.param)))
    return load_tokenizer(resolve_model_dir(request.param))


def test_token_counts_are_the_tokenizers_own(tokenizer):
    texts = [piece for paragraphs in sample_articles() for piece in pieces(paragraphs)]
    assert len(texts) > 3000
    expected = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert tokens.count(texts) == expected
    assert tokens.count(["<|im_end|>"])[0] <= 3 and sum(expected) > len(texts)   # control: real, varied counts


def test_prompt_counts_are_the_rendered_chat_template_tokenized(tokenizer):
    system = "你是这位作者本人。"
    users = ["续写：\n\n正文。", " padded \n", "<|im_end|> in the text", "", "Keep writing:\n\nThe end."]
    expected = [len(tokenizer.apply_chat_template([{"role": "system", "content": system},
                                                   {"role": "user", "content": user}],
                                                  add_generation_prompt=True, tokenize=True, return_dict=False))
                for user in users]
    assert tokens.prompt_tokens(system, users) == expected
    assert len(set(expected)) > 1   # the prompt's own text is counted, not only the template's frame


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
