"""Token counts in the base model's own tokenizer, as the trainer will see the text.

Every count in `make data` comes from here: sentences and chunks (prep/chunk.py), continue targets and
rendered prompts (prep/rows.py). A text is counted as the tokenizer encodes it alone, with no special tokens
added; a prompt is first rendered by the model's chat template with the generation prompt, exactly as TRL
renders it before the completion. Each worker process loads the tokenizer once (`load`, the pool's
initializer: prep/workers.py), so the counting functions run wherever the per-article work runs.
"""
import os

_tokenizer = None   # this process's tokenizer, set by load()


def load(model_dir: str) -> None:
    """Load the tokenizer of `model_dir` into this process (once per worker process)."""
    global _tokenizer
    os.environ["TOKENIZERS_PARALLELISM"] = "false"   # the worker processes already use every core
    from core.model import load_tokenizer

    _tokenizer = load_tokenizer(model_dir)


def count(texts: list[str]) -> list[int]:
    """Tokens of each text. The tokenizers library's batch encode without offsets gives the ids that
    `tokenizer(text, add_special_tokens=False)` gives (tests/test_prep_counting.py) in half the time."""
    return [len(encoding.ids) for encoding in
            _tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def render_prompt(tokenizer, system: str, user: str) -> str:
    """The [system, user] prompt as the chat template renders it, with the generation prompt."""
    return tokenizer.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                         add_generation_prompt=True, tokenize=False)


def prompt_tokens(system: str, users: list[str]) -> list[int]:
    """Tokens of each rendered prompt (see render_prompt)."""
    return count([render_prompt(_tokenizer, system, user) for user in users])
