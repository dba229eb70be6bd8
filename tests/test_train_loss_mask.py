"""The loss covers the completion only: in the batches SFTTrainer (as `make train` builds it) feeds the model,
every token of a row's rendered prompt has label -100 and every completion token is its own label. Checked
per row (packing off) against the chat template's rendering of the prompt, and on packed batches (the CPU
default) by counting: a packed sequence masks exactly the prompt tokens of the rows packed into it."""
import pytest

from test_train_run import build_tiny_data, TINY

IGNORE = -100


def trainer_for(data, run, packing: bool):
    from train import sft

    args = sft.parse_args(["--data", str(data), "--run", str(run), "--set", *TINY, "max_length=1024",
                           "load_in_4bit=false", f"packing={str(packing).lower()}"])
    cfg, model_dir = sft.prepare(args)
    return sft.build_trainer(cfg, model_dir, args)


def prompt_ids(tokenizer, row) -> list[int]:
    return tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_tiny_data(tmp_path_factory.mktemp("mask_data"), n_train=4, n_val=1)


def test_prompt_tokens_have_label_minus_100_row_by_row(data, tmp_path):
    from core.rows import read_rows

    trainer = trainer_for(data, tmp_path / "run", packing=False)
    rows = read_rows(data, "train")
    examples = [trainer.train_dataset[i] for i in range(len(rows))]
    batch = trainer.data_collator(examples)
    for i, row in enumerate(rows):
        prompt = prompt_ids(trainer.processing_class, row)
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        real = int(batch["attention_mask"][i].sum())
        assert ids[:len(prompt)] == prompt                       # the row starts with its rendered prompt
        assert labels[:len(prompt)] == [IGNORE] * len(prompt)    # ... which is not learned
        completion = labels[len(prompt):real]
        assert completion and completion == ids[len(prompt):real]   # control: the completion is


def test_packed_batches_mask_exactly_the_prompts_packed_into_them(data, tmp_path):
    from core.rows import read_rows

    trainer = trainer_for(data, tmp_path / "run", packing=True)
    tokenizer = trainer.processing_class
    prompt_total = sum(len(prompt_ids(tokenizer, row)) for row in read_rows(data, "train"))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    labels = batch["labels"]
    assert int((labels == IGNORE).sum()) == prompt_total
    assert int((labels != IGNORE).sum()) > 0
