"""Settings of `make eval` (values live in eval/eval.yaml; override with --set key=value)."""
from typing import Literal

from pydantic import model_validator

from core.config import ConfigError, Settings, setting
from core.sampling import GenerationConfig
from core.degeneracy import DEFAULT_LIMITS


class PerplexityConfig(Settings):
    window: int = setting(1024, "tokens per forward pass; longer texts are scored with a sliding window", min=16)
    stride: int = setting(512, "new tokens scored per window step; the rest of the window is context", min=1)
    batch_size: int = setting(4, "windows per forward pass (logits take batch × window × vocab floats)", min=1)
    instruction: str = setting("请写一段文字。", "user message of the fixed chat template every scored text sits in")
    max_articles: int = setting(0, "score at most this many held-out articles (0 = all)", min=0)
    reference_max_articles: int = setting(
        6, "score a seeded sample of this many REFERENCE articles (0 = all): the control of the author-specific "
           "gain; every reference chunk costs a base and an adapter pass", min=0)

    @model_validator(mode="after")
    def _stride_within_window(self) -> "PerplexityConfig":
        if self.stride > self.window:
            raise ConfigError(f"perplexity.stride ({self.stride}) must not exceed perplexity.window ({self.window})")
        return self


class FewShotConfig(Settings):
    k: int = setting(2, "author passages (train split) shown to the base model", min=1)
    passage_chars: int = setting(300, "characters per passage, cut back to a sentence end", min=20)
    instruction: str = setting("以下是这位作者的文字样例，请模仿其文风完成后面的任务。",
                               "text placed before the passages in the few-shot user message")


class StylometryConfig(Settings):
    mfw_count: int = setting(100, "most frequent words of the author's train text used as features", min=5)
    mattr_window: int = setting(50, "window (words) of the moving-average type-token ratio", min=5)
    ngram_order: int = setting(2, "character n-gram order of the n-gram profile", min=1, max=5)
    top_punctuation: int = setting(12, "punctuation marks shown in the profile figure", min=1)


class GuardConfig(Settings):
    min_distinct_2: float = setting(DEFAULT_LIMITS.min_distinct_2, "a text whose distinct character bigrams are fewer than this share of its "
                                         "bigrams is low_diversity", min=0.0, max=1.0)
    max_repeat_share: float = setting(DEFAULT_LIMITS.max_repeat_share, "a text whose longest twice-occurring substring is longer than this "
                                            "share of it is repetitive", min=0.0, max=1.0)
    max_foreign_script_share: float = setting(DEFAULT_LIMITS.max_foreign_script_share, "a text with more than this share of characters in scripts the "
                                                    "author and reference never use is foreign_script", min=0.0, max=1.0)
    max_fluency_ratio: float = setting(DEFAULT_LIMITS.max_fluency_ratio, "a text whose per-character perplexity under the base model exceeds this "
                                            "multiple of the author's real held-out text's median is not_fluent", min=1.0)
    max_prompt_echo_share: float = setting(DEFAULT_LIMITS.max_prompt_echo_share,
                                           "a text with more than this share of its character 8-grams found in its own "
                                           "prompt echoes_prompt (it repeats the author's prefix back)", min=0.0, max=1.0)
    max_failing_share: float = setting(DEFAULT_LIMITS.max_failing_share, "a system with more than this share of failing texts is flagged: its style "
                                             "numbers are not interpretable", min=0.0, max=1.0)
    control_passages: int = setting(48, "held-out author passages (length-matched to the generations) in the real "
                                        "and the character-shuffled control", min=4)


class AttributionConfig(Settings):
    passage_chars: int = setting(0, "author and reference texts are cut into passages of about this length (0 = the "
                                    "generations' median length), so the classifier cannot tell them apart by length",
                                 min=0)
    ngram_max: int = setting(3, "character n-grams 1..ngram_max are the classifier's features", min=1, max=5)
    folds: int = setting(4, "cross-fitting folds over prompts: a prompt's outputs are judged by a classifier "
                            "that never saw that prompt's base output", min=2)
    regularization: float = setting(1.0, "inverse L2 strength C of the logistic regression", min=1e-6)


class EvalConfig(Settings):
    seed: int = setting(1234, "seeds sampling, prompt choice, bootstrap and A/B order")
    bootstrap_resamples: int = setting(2000, "bootstrap resamples for every confidence interval", min=100)
    confidence_level: float = setting(0.95, "confidence level of every interval", min=0.5, max=0.999)
    bootstrap_method: Literal["percentile", "basic", "BCa"] = setting(
        "BCa", "scipy.stats.bootstrap method; BCa falls back to percentile (and says so) below "
               "min_articles_for_intervals values")
    min_articles_for_intervals: int = setting(10, "an interval backed by fewer held-out articles (or texts) than this "
                                                  "carries a plain warning in the report", min=2)
    samples: int = setting(3, "prompts shown with every system's output at the top of the report", min=0)
    perplexity: PerplexityConfig = setting(PerplexityConfig(), "perplexity scoring")
    generation: GenerationConfig = setting(GenerationConfig(), "generations of base, adapter and few-shot")
    fewshot: FewShotConfig = setting(FewShotConfig(), "few-shot prompting baseline")
    stylometry: StylometryConfig = setting(StylometryConfig(), "stylometric features")
    guard: GuardConfig = setting(GuardConfig(), "degenerate-text guard, applied before any style number")
    attribution: AttributionConfig = setting(AttributionConfig(), "authorship classifiers")
