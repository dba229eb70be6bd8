"""The misses found on a real WeChat archive, reproduced with generated posts: a signature whose digits follow
without a space, a header in Traditional script (the same header in Simplified is boilerplate in the other
posts), and posts that are only pictures between the account's header and footer."""
import opencc
import pytest

from conftest import REPO
from core.config import load
from core.jsonio import read_jsonl
from prep import boilerplate
from prep.build_dataset import build
from prep.config import PrepConfig
from test_prep_bad_inputs import article

LUXUN = sorted((REPO / "corpora" / "luxun-archive" / "鲁迅").glob("192[45]/*/*.md"))
HEADER = "本文是张衔瑜第{n}篇推文 / 共计{c}个字，{k}张图"
SIGNATURE = "感谢阅读，我是张衔瑜，在日常尬文 2333333"
GLUED_SIGNATURE = "感谢阅读，我是张衔瑜，在日常尬文2333333"
TO_TRADITIONAL = opencc.OpenCC("s2t")


def body(i: int) -> str:
    return LUXUN[i].read_text(encoding="utf-8").split("---", 2)[2].strip()


def test_keys_fold_digit_spacing_and_script_but_not_words():
    assert boilerplate.key(GLUED_SIGNATURE) == boilerplate.key(SIGNATURE) == boilerplate.key(SIGNATURE + " ")
    traditional = "本文是張銜瑜第285篇推文 / 共計982個字，4張圖"
    assert boilerplate.key(traditional) == boilerplate.key(HEADER.format(n=12, c=1500, k=3))
    assert boilerplate.key("在日常尬文 2333333") != boilerplate.key("在日常写文 2333333")   # control: words count
    assert boilerplate.key("post 12 of 30") == boilerplate.key("post 7 of 2") != boilerplate.key("post seven")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("wechat") / "archive"
    for i in range(6):
        article(root, f"2021-03-{i + 1:02d}", f"推文{i}",
                f"{HEADER.format(n=280 + i, c=900 + i, k=i)}\n\n{body(i)}\n\n{SIGNATURE}\n")
    article(root, "2021-03-10", "连写签名", f"{HEADER.format(n=290, c=990, k=0)}\n\n{body(6)}\n\n{GLUED_SIGNATURE}\n")
    traditional = TO_TRADITIONAL.convert(f"{HEADER.format(n=285, c=982, k=4)}\n\n{body(7)}\n\n{SIGNATURE}\n")
    article(root, "2021-03-11", "繁体", traditional)
    for i in range(6):
        article(root, f"2021-04-{i + 1:02d}", f"图片{i}", f"{HEADER.format(n=300 + i, c=0, k=5)}\n\n"
                f"![](https://mmbiz.qpic.cn/{i}a.jpg)\n\n[![](https://mmbiz.qpic.cn/{i}b.jpg)](https://mp.weixin.qq.com)"
                f"\n\n{SIGNATURE}\n")
    out = tmp_path_factory.mktemp("wechat_out")
    stats = build(root, out, load(PrepConfig, None, ["paraphrase.max_chunks=0", "workers=1"]))
    return stats, read_jsonl(out / "chunks.jsonl"), traditional


def test_glued_digits_signature_is_boilerplate(built):
    stats, chunks, _ = built
    text = "\n".join(c["text"] for c in chunks)
    assert "尬文2333333" not in text and "尬文 2333333" not in text
    assert "感谢阅读" not in text
    assert any(c["article_id"].endswith("连写签名") for c in chunks)   # the post itself is kept


def test_traditional_header_is_boilerplate_and_the_text_stays_traditional(built):
    stats, chunks, traditional = built
    kept = "\n".join(c["text"] for c in chunks if c["article_id"].endswith("繁体"))
    assert "本文是張銜瑜" not in kept and "共計" not in kept
    sentence = max(traditional.split("\n\n"), key=len)[:30]
    assert sentence in kept and sentence != opencc.OpenCC("t2s").convert(sentence)   # kept as written
    assert stats["boilerplate"]["paragraphs_removed"] >= 2 * 14


def test_posts_of_only_pictures_are_image_only(built):
    stats, _, _ = built
    assert stats["articles"]["skipped_by_reason"] == {"image_only": 6}
    assert {p["path"].split("/")[-1][:13] for p in stats["articles"]["skipped_list"]} == {
        f"2021-04-0{i + 1}_图片" for i in range(6)}
    assert stats["articles"]["used"] == 8
