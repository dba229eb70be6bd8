"""`make export`: the run's model as one GGUF file for llama.cpp, Ollama and LM Studio, with an Ollama Modelfile.

    python -m train.export --run outputs/demo [--quant f16|q8_0]
        ->  outputs/demo/export/<run_name>-<quant>.gguf, Modelfile, manifest.json

The adapter is folded into the float32 base first, exactly as `make merge` does (train/merge.py). The GGUF is
written with the gguf package, llama.cpp's own reader/writer, the way llama.cpp's convert_hf_to_gguf.py writes
Qwen2 and Llama models: tensor names from the package's name map, the architecture's hyperparameters, and the
tokenizer as metadata (byte-level BPE tokens, token types, merges, special token ids, the chat template).
f16 stores every matrix in float16 and every vector (norms, biases) in float32; q8_0 stores matrices as blocks
of 32 int8 values with one float16 scale each. The same run always gives the same bytes. The folder is written
next to its target and renamed into place. docs/export.md: how to run the result, and what q8_0 loses.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

from core import offline

offline.enable()

import gguf  # noqa: E402
import numpy as np  # noqa: E402
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX as QWEN2_SPLIT  # noqa: E402

from core.config import ConfigError  # noqa: E402
from core.generate import end_token_ids  # noqa: E402
from core.jsonio import folder_replaced, read_json, sha256_file, sha256_tree, write_atomic, write_json  # noqa: E402
from core.manifest import environment  # noqa: E402
from core.model import ModelNotFound, model_files_sha256, resolve_model_dir  # noqa: E402
from core.runs import RunNotFound, read_run, training_system_prompt  # noqa: E402
from core.sampling import load_sampling  # noqa: E402
from train.merge import merged_model  # noqa: E402
from train.modelfile import ModelfileError, chatml_default_system, go_template, modelfile  # noqa: E402

QUANTS = ("f16", "q8_0")
# transformers model_type -> (gguf architecture name, q/k rows permuted for llama.cpp's rotary layout). Qwen2
# uses the NeoX (rotate-half) rotary layout, which llama.cpp keeps; llama.cpp's Llama interleaves the pairs.
ARCHITECTURES = {"qwen2": ("QWEN2", False), "llama": ("LLAMA", True)}
GEMMA3 = ("Gemma 3 is not exported: its GGUF needs the SentencePiece vocabulary with scores, which the converted "
          "tokenizer no longer has, and more hyperparameters than this exporter writes. Serve its adapter with vLLM "
          "instead (docs/export.md)")
REFUSED = {"gemma3": GEMMA3, "gemma3_text": GEMMA3}
# llama.cpp's name for a pre-tokenizer, by the Split regex of tokenizer.json; a bare byte-level pre-tokenizer
# is GPT-2's.
PRE_TOKENIZER_NAMES = {QWEN2_SPLIT: "qwen2"}


class ExportError(ValueError):
    pass


def architecture(model_type: str, where: str) -> tuple[str, bool]:
    """(gguf architecture name, q/k permuted) for a transformers model type; ExportError saying why not."""
    if model_type in REFUSED:
        raise ExportError(REFUSED[model_type])
    if model_type not in ARCHITECTURES:
        raise ExportError(f"model type {model_type!r} of {where} is not exported; supported: "
                          f"{', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[model_type]


def pre_tokenizer_name(tokenizer_json: dict, where: str) -> str:
    """llama.cpp's name (tokenizer.ggml.pre) for the way this tokenizer splits text before BPE."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [part.get("type") for part in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex"):
        return "gpt-2"
    if kinds == ["Split", "ByteLevel"] and not parts[1].get("use_regex"):
        name = PRE_TOKENIZER_NAMES.get(parts[0].get("pattern", {}).get("Regex"))
        if name is not None:
            return name
    raise ExportError(f"the pre-tokenizer of {where} ({json.dumps(pre)[:200]}) is not one llama.cpp knows by name "
                      "here; add its Split regex and llama.cpp's name to PRE_TOKENIZER_NAMES in train/export.py")


def vocabulary(tokenizer, vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens by id and their llama.cpp token types, as convert_hf_to_gguf.py lists them: special added tokens
    are CONTROL, other added tokens USER_DEFINED, ids without a token (and llama.cpp's own [PAD<id>]
    placeholders, which a tokenizer converted from a GGUF keeps) UNUSED, the rest NORMAL."""
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    if max(by_id) >= vocab_size:
        raise ExportError(f"the tokenizer has token id {max(by_id)}, beyond the model's {vocab_size} embeddings")
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        token = by_id.get(index, f"[PAD{index}]")
        if index in added:
            kind = gguf.TokenType.CONTROL if added[index].special else gguf.TokenType.USER_DEFINED
        elif token == f"[PAD{index}]":
            kind = gguf.TokenType.UNUSED
        else:
            kind = gguf.TokenType.NORMAL
        tokens.append(token)
        types.append(int(kind))
    return tokens, types


def permute_for_llama(weights: np.ndarray, heads: int) -> np.ndarray:
    """Reorder the rows of each head of a q/k projection from rotate-half pairs (i, i + d/2) to interleaved
    pairs (2i, 2i + 1), the layout llama.cpp's Llama rotary embedding reads."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(
        weights.shape)


def encode(data: np.ndarray, quant: str):
    """(array, GGML type) of one tensor: vectors float32, matrices float16 or Q8_0 blocks (when rows split
    into whole blocks; otherwise float16, as llama.cpp does)."""
    if data.ndim == 1:
        return data.astype(np.float32), gguf.GGMLQuantizationType.F32
    q8 = gguf.GGMLQuantizationType.Q8_0
    if quant == "q8_0" and data.shape[-1] % gguf.GGML_QUANT_SIZES[q8][0] == 0:
        return gguf.quants.quantize(data.astype(np.float32), q8), q8
    return data.astype(np.float16), gguf.GGMLQuantizationType.F16


def write_gguf(path: Path, model, tokenizer, model_dir: Path, name: str, quant: str) -> None:
    """The model, its hyperparameters and its tokenizer as one GGUF file at `path`."""
    cfg = model.config
    arch_name, permute = architecture(cfg.model_type, str(model_dir))
    arch = getattr(gguf.MODEL_ARCH, arch_name)
    rope = cfg.rope_parameters
    if rope.get("rope_type", "default") != "default":
        raise ExportError(f"{model_dir} uses rope scaling {rope['rope_type']!r}, which this exporter does not write")
    tokenizer_json = json.loads(tokenizer.backend_tokenizer.to_str())
    if tokenizer_json["model"]["type"] != "BPE" or (tokenizer_json.get("decoder") or {}).get("type") != "ByteLevel":
        raise ExportError(f"the tokenizer of {model_dir} is not a byte-level BPE; only those are exported")
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads

    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(rope["rope_theta"])
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    if arch == gguf.MODEL_ARCH.LLAMA:
        writer.add_vocab_size(cfg.vocab_size)
        writer.add_rope_dimension_count(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    tokens, types = vocabulary(tokenizer, cfg.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer_name(tokenizer_json, str(model_dir)))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    # Whether BOS/EOS are added is what this tokenizer does, measured, not what a config file may claim.
    with_special, plain = tokenizer("字").input_ids, tokenizer("字", add_special_tokens=False).input_ids
    added = len(with_special) > len(plain)
    special.add_special_token = {"bos": added and with_special[0] == tokenizer.bos_token_id,
                                 "eos": added and with_special[-1] == tokenizer.eos_token_id}
    special.add_to_gguf(writer, quiet=True)

    name_map = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue   # llama.cpp reuses token_embd when there is no output tensor
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"tensor {hf_name} of {model_dir} has no name in gguf's {arch_name} name map")
        data = tensor.detach().float().numpy()
        if permute and hf_name.endswith("q_proj.weight"):
            data = permute_for_llama(data, cfg.num_attention_heads)
        elif permute and hf_name.endswith("k_proj.weight"):
            data = permute_for_llama(data, cfg.num_key_value_heads)
        array, ggml_type = encode(data, quant)
        writer.add_tensor(gguf_name, array, raw_dtype=ggml_type)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def export(run: Path, out: Path, quant: str, eval_config: Path) -> dict:
    """Write out/<run_name>-<quant>.gguf, out/Modelfile and out/manifest.json; returns the manifest."""
    started = time.monotonic()
    manifest = read_run(run)
    sampling = load_sampling(eval_config).generation
    base_dir = resolve_model_dir(manifest["config"]["base_model"])
    architecture(read_json(base_dir / "config.json")["model_type"], str(base_dir))   # refuse before loading
    system = training_system_prompt(manifest)
    model, tokenizer, model_dir = merged_model(run, manifest)
    name = f"{manifest['config']['run_name']}-{quant}"
    template = go_template(chatml_default_system(tokenizer, str(model_dir)))
    stops = [tokenizer.convert_ids_to_tokens(i) for i in sorted(end_token_ids(model, tokenizer))]

    with folder_replaced(out) as tmp:
        gguf_path = tmp / f"{name}.gguf"
        write_gguf(gguf_path, model, tokenizer, model_dir, name, quant)
        with open(gguf_path, "rb") as fh:
            os.fsync(fh.fileno())
        write_atomic(tmp / "Modelfile", modelfile(gguf_path.name, template, system[0]["content"] if system else None,
                                                  sampling, stops))
        result = {
            "stage": "export",
            "run": str(run),
            "quant": quant,
            "inputs": {"adapter": sha256_tree(run / "adapter"), "run_manifest": sha256_file(run / "manifest.json"),
                       "base_model": manifest["config"]["base_model"], "base_model_files": model_files_sha256(model_dir),
                       "eval_config": sha256_file(eval_config)},
            "outputs": {path.name: sha256_file(path) for path in (gguf_path, tmp / "Modelfile")},
            "gguf_bytes": gguf_path.stat().st_size,
            "config": {"quant": quant, "name": name, "eval_config": str(eval_config),
                       "sampling": {"do_sample": sampling.do_sample, "temperature": sampling.temperature,
                                    "top_p": sampling.top_p, "repetition_penalty": sampling.repetition_penalty,
                                    "max_new_tokens": sampling.max_new_tokens},
                       "system_prompt": system[0]["content"] if system else None, "stop": stops},
            "environment": environment(("gguf",)),
            "wall_seconds": round(time.monotonic() - started, 1),
        }
        write_json(tmp / "manifest.json", result)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--quant", default="f16", choices=QUANTS)
    parser.add_argument("--out", default=None, help="default: RUN/export (replaced as a whole)")
    parser.add_argument("--eval-config", default="eval/eval.yaml", help="sampling settings for the Modelfile")
    args = parser.parse_args(argv)
    run = Path(args.run)
    out = Path(args.out) if args.out else run / "export"
    try:
        result = export(run, out, args.quant, Path(args.eval_config))
    except (RunNotFound, ModelNotFound, ConfigError, ExportError, ModelfileError) as exc:
        sys.exit(f"error: {exc}")
    if result["config"]["system_prompt"] is None:
        print(f"warning: the run's data folder is gone, so the Modelfile has no SYSTEM line; the adapter was "
              f"trained with one (see {run / 'manifest.json'}: data.dir)", file=sys.stderr)
    gguf_name = f"{result['config']['name']}.gguf"
    print(f"{out / gguf_name} ({result['gguf_bytes'] / 1e6:.0f} MB, {result['wall_seconds']} s), {out / 'Modelfile'}\n"
          f"run it: cd {out} && ollama create mystyle -f Modelfile && ollama run mystyle   (docs/export.md)")


if __name__ == "__main__":
    main()
