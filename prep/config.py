"""Settings of the data stage (prep/config.yaml); every key is documented in docs/configuration.md."""
from typing import Literal, get_args

from pydantic import model_validator

from core.config import ConfigError, Settings, setting
from core.model import DEFAULT_MODEL_DIR

Template = Literal["continue", "expand", "rewrite"]
PiiKind = Literal["email", "phone", "id_number", "url"]
TEMPLATES, PII_KINDS = get_args(Template), get_args(PiiKind)


class CleanConfig(Settings):
    min_article_chars: int = setting(10, "articles with fewer characters after cleaning are skipped (counted)", min=1)
    boilerplate_min_articles: int = setting(
        3, "a paragraph or line recurring (digits normalised) in at least this many articles is boilerplate", min=2)
    boilerplate_min_share: float = setting(
        0.02, "... and in at least this share of all articles (large archives need more than a few)", min=0.0, max=1.0)
    boilerplate_min_chars: int = setting(4, "shorter paragraphs (section numbers, '……') never count as boilerplate", min=1)
    repeat_min_chars: int = setting(8, "a paragraph repeated inside one article is dropped from this length up", min=1)
    index_link_share: float = setting(
        0.5, "a page whose text is mostly link text (with ≥ 5 links) is an index page and skipped", min=0.0, max=1.0)


class PiiConfig(Settings):
    enabled: bool = setting(True, "replace personal data with placeholders such as `<EMAIL>`")
    kinds: list[PiiKind] = setting(list(PII_KINDS), "which kinds to scrub")


class ChunkConfig(Settings):
    min_tokens: int = setting(300, "chunks aim to hold at least this many tokens (shorter ones are flagged)", min=1)
    max_tokens: int = setting(800, "no chunk holds more tokens than this", min=16, max=32768)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> "ChunkConfig":
        if self.min_tokens > self.max_tokens:
            raise ConfigError(f"chunk.min_tokens ({self.min_tokens}) must not exceed chunk.max_tokens ({self.max_tokens})")
        return self


class DedupConfig(Settings):
    near_duplicate_jaccard: float = setting(
        0.8, "chunks of different articles whose char-shingle Jaccard (MinHash estimate) reaches this are near-duplicates",
        min=0.1, max=1.0)
    shingle_chars: int = setting(5, "characters per shingle", min=2, max=20)
    num_perm: int = setting(64, "MinHash permutations", min=16, max=512)


class TemplateConfig(Settings):
    enabled: list[Template] = setting(["continue", "expand"], "templates to build (rewrite needs a base model that "
                                      "paraphrases faithfully: off on CPU)")
    continue_min_fraction: float = setting(0.3, "continue: the prefix holds at least this share of the chunk", min=0.05, max=0.95)
    continue_max_fraction: float = setting(0.5, "continue: ... and at most this share", min=0.05, max=0.95)
    expand_keywords: int = setting(8, "expand: jieba keywords in the outline", min=1, max=50)
    system_prompt: str = setting("你是这位作者本人，请用作者自己的文风、用词和标点习惯写作。",
                                 "system message of every row")

    @model_validator(mode="after")
    def _fractions_ordered_and_a_template_enabled(self) -> "TemplateConfig":
        if self.continue_min_fraction > self.continue_max_fraction:
            raise ConfigError("templates.continue_min_fraction must not exceed templates.continue_max_fraction")
        if not self.enabled:
            raise ConfigError("templates.enabled must name at least one of " + ", ".join(TEMPLATES))
        return self


class ParaphraseConfig(Settings):
    max_chunks: int = setting(8, "chunks paraphrased by the base model for 'rewrite' rows (0 = none; CPU cost)", min=0)
    batch_size: int = setting(8, "paraphrase generation batch size (part of the cache key: it changes the output)", min=1)
    max_new_tokens_ratio: float = setting(
        1.5, "a batch generates at most this many times its longest chunk's tokens (+16); a paraphrase that has "
             "not ended by then is rejected",
        min=0.5, max=4.0)
    do_sample: bool = setting(True, "sample (seeded) instead of greedy decoding, which mostly copies the chunk")
    temperature: float = setting(0.8, "sampling temperature", min=0.01, max=2.0)
    top_p: float = setting(0.95, "nucleus sampling mass", min=0.01, max=1.0)
    repetition_penalty: float = setting(1.05, "HF repetition penalty (1 = none)", min=1.0, max=2.0)
    min_length_ratio: float = setting(0.6, "reject a paraphrase shorter than this share of the chunk (chars)", min=0.0, max=1.0)
    max_length_ratio: float = setting(1.4, "reject a paraphrase longer than this multiple of the chunk (chars)", min=1.0, max=10.0)
    keywords: int = setting(10, "content keywords of the chunk (jieba TF-IDF) checked in the paraphrase", min=1, max=50)
    min_keyword_recall: float = setting(
        0.5, "reject a paraphrase that keeps fewer than this share of those keywords (it lost content)", min=0.0, max=1.0)
    max_jaccard: float = setting(0.5, "reject a paraphrase whose char 5-gram Jaccard with the chunk exceeds this", min=0.0, max=1.0)


class SplitConfig(Settings):
    mode: Literal["hash", "latest"] = setting("hash", "'hash': seeded hash of the article id; 'latest': newest articles "
                                                      "by date")
    val_fraction: float = setting(0.15, "share of articles held out for validation", min=0.0, max=0.9)
    val_min_articles: int = setting(
        10, "hold out at least this many articles (while training keeps 3/4 of them), so the evaluation's "
            "per-article intervals rest on enough articles", min=0)
    overlap_chars: int = setting(
        50, "a validation chunk (prefix included) sharing a span this long with a training chunk is dropped whole",
        min=8)


class PrepConfig(Settings):
    seed: int = setting(1234, "seeds the split, prompt wording, continue cut points and paraphrase selection")
    base_model: str = setting(DEFAULT_MODEL_DIR, "local model folder: its tokenizer counts tokens, it paraphrases")
    workers: int = setting(0, "processes for per-article work (0 = all cores); outputs do not depend on it", min=0)
    clean: CleanConfig = setting(CleanConfig())
    pii: PiiConfig = setting(PiiConfig())
    chunk: ChunkConfig = setting(ChunkConfig())
    dedup: DedupConfig = setting(DedupConfig())
    templates: TemplateConfig = setting(TemplateConfig())
    paraphrase: ParaphraseConfig = setting(ParaphraseConfig())
    split: SplitConfig = setting(SplitConfig())
