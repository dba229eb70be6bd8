"""`make chat` driven by scripted input, as a person would type it: the greeting, streamed replies that say which
model wrote them, /base answering with the base model (checked against the plain base model), /reset
forgetting the conversation, a clean exit at end of input, and a clear message for a missing run. Greedy
decoding (eval config with do_sample: false) makes every reply checkable against an independent generation."""
import io
import re
import subprocess
import sys

import pytest
import yaml

from conftest import attempted_connections, guarded_env
from core import offline
from core.manifest import REPO_ROOT
from core.model import DEFAULT_MODEL_DIR
from run_fixtures import SYSTEM, lora_run

offline.enable()

QUESTION = "请写一句关于读书的话。"
NEW_TOKENS = 8
# adapter, /base, base (same history), /base, /reset, adapter again (fresh history), then end of input
SCRIPT = f"{QUESTION}\n/base\n{QUESTION}\n/base\n/reset\n{QUESTION}\n"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat")
    run = lora_run(tmp / "run", DEFAULT_MODEL_DIR)
    config = yaml.safe_load((REPO_ROOT / "eval" / "eval.yaml").read_text(encoding="utf-8"))
    config["generation"]["do_sample"] = False
    (tmp / "greedy.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    args = ["-m", "train.chat", "--run", str(run), "--eval-config", str(tmp / "greedy.yaml"),
            "--max-new-tokens", str(NEW_TOKENS)]
    log = tmp / "netguard.log"
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=guarded_env(log), input=SCRIPT,
                            capture_output=True, text=True, timeout=600)
    return {"run": run, "result": result, "connections": attempted_connections(log), "tmp": tmp,
            "args": args, "generation": config["generation"]}


def replies(stdout: str) -> list[tuple[str, str]]:
    """(which model, reply text) in the order the transcript shows them."""
    return [(m.group(1), m.group(2).strip()) for m in re.finditer(r"\[(adapter|base)\] (.*?)(?=\nyou> )", stdout, re.S)]


def greedy(model, tokenizer, messages: list[dict], repetition_penalty: float) -> str:
    import torch

    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS, do_sample=False,
                             repetition_penalty=repetition_penalty, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


@pytest.mark.slow
def test_scripted_session_transcript(session):
    result = session["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert session["connections"] == []
    out = result.stdout
    assert out.startswith(f"chat with {session['run'] / 'adapter'} on qwen2.5-coder-0.5b-instruct\n")
    assert f"system prompt: {SYSTEM}\n" in out
    g = session["generation"]
    assert (f"temperature {g['temperature']:g}, top_p {g['top_p']:g}, repetition penalty {g['repetition_penalty']:g}, "
            f"up to {NEW_TOKENS} new tokens (greedy") in out
    assert "(adapter off: the base model answers" in out and "(adapter on: your style model answers)" in out
    assert "(conversation forgotten" in out
    assert out.endswith("you> \nbye\n")
    assert [which for which, _ in replies(out)] == ["adapter", "base", "adapter"]
    assert all(text for _, text in replies(out))


@pytest.mark.slow
def test_replies_come_from_the_model_they_name(session):
    """[base] is the plain base model continuing the same conversation; [adapter] after /reset answers as
    to a fresh conversation; and the adapter changes the answer (else /base would prove nothing)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.model import load_tokenizer

    (_, first), (_, base_reply), (_, after_reset) = replies(session["result"].stdout)
    tokenizer = load_tokenizer(REPO_ROOT / DEFAULT_MODEL_DIR)
    penalty = session["generation"]["repetition_penalty"]
    base = AutoModelForCausalLM.from_pretrained(str(REPO_ROOT / DEFAULT_MODEL_DIR), local_files_only=True)
    system = [{"role": "system", "content": SYSTEM}]
    question = {"role": "user", "content": QUESTION}
    assert base_reply == greedy(base, tokenizer, system + [question, {"role": "assistant", "content": first},
                                                           question], penalty)
    assert first != greedy(base, tokenizer, system + [question], penalty)
    tuned = PeftModel.from_pretrained(base, str(session["run"] / "adapter"))
    assert first == greedy(tuned, tokenizer, system + [question], penalty)
    assert after_reset == first


@pytest.mark.slow
def test_reply_is_streamed(session, monkeypatch):
    """The reply reaches stdout in pieces as tokens are generated, not in one write at the end."""
    from train import chat

    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text):
            writes.append(text)
            return super().write(text)

    monkeypatch.setattr(sys, "stdin", io.StringIO(QUESTION + "\n"))
    monkeypatch.setattr(sys, "stdout", Recorder())
    chat.main(session["args"][2:])
    start = writes.index("[adapter] ")
    end = writes.index("you> ", start)
    pieces = [w for w in writes[start + 1:end] if w.strip()]
    assert len(pieces) > 1
    assert "".join(writes[start + 1:end]).strip() == replies(sys.stdout.getvalue())[0][1]


def test_missing_run_is_named(tmp_path):
    result = subprocess.run([sys.executable, "-m", "train.chat", "--run", str(tmp_path / "nope")], cwd=REPO_ROOT,
                            input="", capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{tmp_path / 'nope'} has no finished adapter" in result.stderr and "make train" in result.stderr
