"""`make export` checked by an independent reader: transformers loads the GGUF our writer made (its own GGUF
loader: config from the metadata, tokenizer from the vocabulary, tensors mapped back by name) and must give the
next-token logits of the run's model (base + adapter) on fixed Chinese prompts, and the tokenizer must encode
and decode Chinese exactly as the run's. A GGUF exported without the adapter must fail the same comparison, so
it is not vacuous. llama.cpp itself (node-llama-cpp's prebuilt CPU build) must read the GGUF the same way. Bundled
Qwen2.5-Coder-0.5B (qwen2) with a random LoRA; SmolLM2 (llama, permuted q/k) when
`make setup BASE=smollm2-135m-instruct` has converted it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_guarded
from core import offline
from core.jsonio import read_json, sha256_file, sha256_tree
from core.manifest import REPO_ROOT
from core.model import DEFAULT_MODEL_DIR
from core.sampling import load_sampling
from run_fixtures import SYSTEM, lora_run

offline.enable()

SMOLLM2_DIR = "models/smollm2-135m-instruct"
PROMPTS = ["请写一段关于读书的随笔。", "谈谈故乡的冬天，和你记得的那些人。", "有人说骂人是一种本领，你怎么看？"]
TEXTS = ["我家的后园，可以看见墙外有两株树，一株是枣树，还有一株也是枣树。",
         "一九三四年五月十日，上海。\n\n“这是什么话！”他说——然而终于没有说下去……",
         "<|im_start|>user\n写一段关于故乡的文字<|im_end|>\n<|im_start|>assistant\n"]
# Tolerances on the largest absolute next-token logit difference (logits span about ±20 here). Measured with
# this random adapter: f16 0.008-0.009 (float16 rounding of the weights), q8_0 0.14-0.16; the GGUF without the
# adapter is 2.3-2.6 off, beyond both, which the control below checks.
F16_TOLERANCE = 0.05
Q8_0_TOLERANCE = 0.5


def export(run: Path, out: Path, quant: str, tmp_path: Path) -> Path:
    """`make export`'s command line with every network connection refused; the written GGUF."""
    result, connections = run_guarded(["-m", "train.export", "--run", str(run), "--quant", quant, "--out", str(out),
                                       "--eval-config", str(REPO_ROOT / "eval" / "eval.yaml")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert connections == []
    return out / f"style-{quant}.gguf"


def prompt_ids(tokenizer) -> list:
    return [tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}],
                                          add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
            for p in PROMPTS]


def last_logits(model, ids: list) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.stack([model(i).logits[0, -1].float().numpy() for i in ids])


def run_logits(run: Path) -> tuple[np.ndarray, object]:
    """Next-token logits of base + adapter, the adapter applied by PEFT (not merged): the reference."""
    from core.runs import load_run_model, read_run

    model, tokenizer, _ = load_run_model(run, read_run(run), as_trained=False)
    return last_logits(model, prompt_ids(tokenizer)), tokenizer


def gguf_logits(path: Path, tokenizer) -> np.ndarray:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return last_logits(model, prompt_ids(tokenizer))


def assert_round_trip(path: Path, tokenizer, texts: list[str]) -> None:
    from transformers import AutoTokenizer

    reread = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert reread(text, add_special_tokens=False).input_ids == ids, text
        assert reread.decode(ids) == tokenizer.decode(ids) == text
    assert reread.chat_template == tokenizer.chat_template


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    """A random-adapter run on the bundled Qwen model, its reference logits and tokenizer, its f16 export."""
    tmp = tmp_path_factory.mktemp("qwen")
    run = lora_run(tmp / "run", DEFAULT_MODEL_DIR)
    logits, tokenizer = run_logits(run)
    return {"run": run, "logits": logits, "tokenizer": tokenizer, "tmp": tmp,
            "f16": export(run, run / "export", "f16", tmp)}


@pytest.mark.slow
def test_f16_gguf_gives_the_run_model_logits(qwen):
    got = gguf_logits(qwen["f16"], qwen["tokenizer"])
    assert np.abs(got - qwen["logits"]).max() <= F16_TOLERANCE
    assert (got.argmax(axis=1) == qwen["logits"].argmax(axis=1)).all()


@pytest.mark.slow
def test_gguf_tokenizer_round_trips_chinese(qwen):
    assert_round_trip(qwen["f16"], qwen["tokenizer"], TEXTS)


@pytest.mark.slow
def test_rerun_gives_byte_identical_gguf(qwen):
    again = export(qwen["run"], qwen["tmp"] / "again", "f16", qwen["tmp"])
    assert sha256_file(again) == sha256_file(qwen["f16"])
    assert read_json(again.parent / "manifest.json")["outputs"] == read_json(qwen["f16"].parent / "manifest.json")["outputs"]


@pytest.mark.slow
def test_q8_0_gguf_keeps_top1_within_tolerance(qwen):
    path = export(qwen["run"], qwen["tmp"] / "q8", "q8_0", qwen["tmp"])
    got = gguf_logits(path, qwen["tokenizer"])
    assert (got.argmax(axis=1) == qwen["logits"].argmax(axis=1)).all()
    assert np.abs(got - qwen["logits"]).max() <= Q8_0_TOLERANCE
    assert path.stat().st_size < 0.6 * qwen["f16"].stat().st_size


@pytest.mark.slow
def test_control_gguf_without_the_adapter_fails_the_comparison(qwen):
    """The base model exported the same way (a fresh LoRA folds to nothing) is off by more than either
    tolerance: the comparison above would have caught an export that dropped the adapter."""
    base_run = lora_run(qwen["tmp"] / "base_run", DEFAULT_MODEL_DIR, b_std=0.0)
    got = gguf_logits(export(base_run, base_run / "export", "f16", qwen["tmp"]), qwen["tokenizer"])
    assert np.abs(got - qwen["logits"]).max() > max(F16_TOLERANCE, Q8_0_TOLERANCE)


@pytest.mark.slow
def test_modelfile_and_manifest(qwen):
    folder = qwen["f16"].parent
    text = (folder / "Modelfile").read_text(encoding="utf-8")
    sampling = load_sampling(REPO_ROOT / "eval" / "eval.yaml").generation
    lines = text.splitlines()
    assert "FROM ./style-f16.gguf" in lines
    assert f'SYSTEM """{SYSTEM}"""' in lines
    for line in (f"PARAMETER temperature {sampling.temperature:g}", f"PARAMETER top_p {sampling.top_p:g}",
                 f"PARAMETER repeat_penalty {sampling.repetition_penalty:g}",
                 f"PARAMETER num_predict {sampling.max_new_tokens}", 'PARAMETER stop "<|im_end|>"'):
        assert line in lines
    assert "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." in text   # its default system
    manifest = read_json(folder / "manifest.json")
    assert manifest["inputs"]["adapter"] == sha256_tree(qwen["run"] / "adapter")
    assert manifest["outputs"] == {"style-f16.gguf": sha256_file(qwen["f16"]), "Modelfile": sha256_file(folder / "Modelfile")}
    assert manifest["quant"] == "f16" and manifest["environment"]["packages"]["gguf"] != "not installed"
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.endswith(".partial")) == []


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The same for SmolLM2 (llama: q/k rows permuted for llama.cpp's rotary layout, tied embeddings, GPT-2 split)."""
    if not (REPO_ROOT / SMOLLM2_DIR / "config.json").is_file():
        pytest.skip(f"{SMOLLM2_DIR} is not converted: run `make setup BASE=smollm2-135m-instruct`")
    tmp = tmp_path_factory.mktemp("smollm2")
    run = lora_run(tmp / "run", SMOLLM2_DIR)
    logits, tokenizer = run_logits(run)
    return {"run": run, "logits": logits, "tokenizer": tokenizer, "f16": export(run, run / "export", "f16", tmp)}


@pytest.mark.slow
def test_smollm2_llama_export_matches(smollm2):
    got = gguf_logits(smollm2["f16"], smollm2["tokenizer"])
    assert np.abs(got - smollm2["logits"]).max() <= F16_TOLERANCE
    assert (got.argmax(axis=1) == smollm2["logits"].argmax(axis=1)).all()
    assert_round_trip(smollm2["f16"], smollm2["tokenizer"], TEXTS + ["In 1934 he wrote 2,048 words, then stopped."])
    assert "You are a helpful AI assistant named SmolLM" in (smollm2["f16"].parent / "Modelfile").read_text(encoding="utf-8")


LLAMACPP = REPO_ROOT / "tests" / "llamacpp"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None or not (LLAMACPP / "node_modules" / "node-llama-cpp").is_dir(),
                    reason="needs Node.js >= 20 and node-llama-cpp; install with `make setup-llamacpp`")
@pytest.mark.parametrize("which", ["qwen", "smollm2"])
def test_llamacpp_reads_the_gguf(which, request):
    """llama.cpp itself, the engine Ollama and LM Studio run, tokenizes as the run's tokenizer does (the
    pre-tokenizer name, token types and special tokens in the metadata are what it goes by) and gives the run's
    next-token logits."""
    case = request.getfixturevalue(which)
    tokenizer = case["tokenizer"]
    texts = TEXTS + ["In 1934 he wrote 2,048 words, then stopped."]
    query = {"model": str(case["f16"]), "texts": texts,
             "prompts": [ids[0].tolist() for ids in prompt_ids(tokenizer)]}
    result = subprocess.run(["node", str(LLAMACPP / "read_gguf.mjs")], input=json.dumps(query), capture_output=True,
                            text=True, check=True)
    read = json.loads(result.stdout)
    assert read["tokens"] == [tokenizer(t, add_special_tokens=False).input_ids for t in texts]
    assert read["detokenized"] == texts
    got = np.array(read["logits"], dtype=np.float32)
    assert np.abs(got - case["logits"]).max() <= F16_TOLERANCE
    assert (got.argmax(axis=1) == case["logits"].argmax(axis=1)).all()


def test_llama_permutation_is_what_transformers_undoes():
    """Our q/k row order for llama.cpp, undone by transformers' GGUF reader, is the original: for query heads
    and for grouped key/value heads."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from train.export import permute_for_llama

    rows = np.arange(9 * 64 * 4, dtype=np.float32).reshape(9 * 64, 4)
    reader = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    assert (reader.process(permute_for_llama(rows, 9), "blk.0.attn_q.weight").weights == rows).all()
    keys = rows[:3 * 64]
    assert (reader.process(permute_for_llama(keys, 3), "blk.0.attn_k.weight").weights == keys).all()
    assert not (permute_for_llama(rows, 9) == rows).all()   # control: the permutation does move rows


GO = shutil.which("go")
CONVERSATIONS = [["system", "user"], ["system", "user", "assistant", "user"], ["user"], ["user", "assistant", "user"]]
CONTENTS = {"system": SYSTEM, "user": "请写一段关于读书的随笔。", "assistant": "读书，\n是一件好事。"}


@pytest.fixture(scope="module")
def go_render(tmp_path_factory):
    """tests/gotemplate/render.go built offline: renders a Modelfile TEMPLATE with Go's text/template."""
    out = tmp_path_factory.mktemp("go")
    env = dict(os.environ, GOCACHE=str(out / "cache"), GOPATH=str(out / "path"), GOPROXY="off", GOFLAGS="-mod=mod")
    subprocess.run([GO, "build", "-o", str(out / "render"), str(REPO_ROOT / "tests" / "gotemplate" / "render.go")],
                   env=env, check=True, capture_output=True)

    def render(template: str, roles: list[str]) -> str:
        messages = [{"Role": role, "Content": CONTENTS[role]} for role in roles]
        return subprocess.run([str(out / "render")], input=json.dumps({"Template": template, "Messages": messages}),
                              capture_output=True, text=True, check=True).stdout
    return render


@pytest.mark.skipif(GO is None, reason="needs Go (text/template, which runs Ollama's TEMPLATE); install with `make setup-go`")
@pytest.mark.parametrize("model_dir", [DEFAULT_MODEL_DIR, SMOLLM2_DIR])
def test_modelfile_template_lays_out_chats_as_the_model_template(model_dir, go_render):
    """The Go template export writes, run by Go's text/template with Ollama's values, gives byte for byte the
    prompt the model's own Jinja chat template gives: with and without a system prompt, one turn and several."""
    from core.model import load_tokenizer
    from train.modelfile import chatml_default_system, go_template

    if not (REPO_ROOT / model_dir / "config.json").is_file():
        pytest.skip(f"{model_dir} is not converted: run `make setup BASE={Path(model_dir).name}`")
    tokenizer = load_tokenizer(REPO_ROOT / model_dir)
    template = go_template(chatml_default_system(tokenizer, model_dir))
    for roles in CONVERSATIONS:
        messages = [{"role": role, "content": CONTENTS[role]} for role in roles]
        assert go_render(template, roles) == tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                                          tokenize=False), roles
    # control: without the model's fallback system prompt the first system-less chat comes out differently
    assert go_render(go_template(None), ["user"]) != tokenizer.apply_chat_template(
        [{"role": "user", "content": CONTENTS["user"]}], add_generation_prompt=True, tokenize=False)


def test_chat_template_check_refuses_a_non_chatml_template():
    from core.bundled_models import GEMMA3_CHAT_TEMPLATE
    from core.model import load_tokenizer
    from train.modelfile import ModelfileError, chatml_default_system

    tokenizer = load_tokenizer(REPO_ROOT / DEFAULT_MODEL_DIR)
    assert chatml_default_system(tokenizer, "qwen") == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    tokenizer.chat_template = GEMMA3_CHAT_TEMPLATE
    with pytest.raises(ModelfileError, match="not ChatML"):
        chatml_default_system(tokenizer, "gemma")


def test_gemma3_is_refused_with_a_reason_before_loading(tmp_path):
    """A run on a Gemma 3 base is refused from its base's config.json alone, saying why and what to use instead."""
    from core.jsonio import write_json

    write_json(tmp_path / "gemma" / "config.json", {"model_type": "gemma3_text"})
    write_json(tmp_path / "run" / "adapter" / "adapter_config.json", {})
    write_json(tmp_path / "run" / "manifest.json", {"config": {"base_model": str(tmp_path / "gemma")},
                                                    "data": {"dir": str(tmp_path)}})
    result = subprocess.run([sys.executable, "-m", "train.export", "--run", str(tmp_path / "run")], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "Gemma 3 is not exported" in result.stderr and "vLLM" in result.stderr
    assert not (tmp_path / "run" / "export").exists() and not (tmp_path / "run" / "export.partial").exists()


def test_missing_run_is_named(tmp_path):
    result = subprocess.run([sys.executable, "-m", "train.export", "--run", str(tmp_path / "nope")], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{tmp_path / 'nope'} has no finished adapter" in result.stderr and "make train" in result.stderr
