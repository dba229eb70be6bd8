"""The Ollama Modelfile `make export` writes next to the GGUF: FROM the file, a TEMPLATE that lays out a chat
exactly as the model's own (Jinja) chat template does, SYSTEM = the system prompt the adapter was trained with,
and PARAMETERs = the sampling settings of eval/eval.yaml, so `ollama run` samples as `make eval` did.

Ollama's templates are Go text/templates, so the Jinja template cannot be copied over: the shipped instruct
models (Qwen2.5, SmolLM2) both use ChatML and differ only in the system prompt they fall back to without one.
`chatml_default_system` checks, by rendering the model's template, that it is ChatML and finds that fallback;
any other chat format is refused rather than given a template that would lay the turns out differently.
"""
import re

# ChatML as a Go template over Ollama's .System and .Messages: the system turn first, then each user and
# assistant turn closed by <|im_end|>, then an open assistant turn when the last message is not the assistant's
# (the layout of the Jinja templates with add_generation_prompt). DEFAULT_SYSTEM_BLOCK fills {default}.
CHATML_GO_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{default}{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""
DEFAULT_SYSTEM_BLOCK = "{{{{ else }}}}<|im_start|>system\n{system}<|im_end|>\n"

_PROBE = {"system": "SYSTEM-PROBE", "user": "USER-PROBE", "assistant": "ASSISTANT-PROBE", "user2": "USER-PROBE-2"}


class ModelfileError(ValueError):
    pass


def chatml(turns: list[tuple[str, str]], open_assistant: bool = True) -> str:
    text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    return text + ("<|im_start|>assistant\n" if open_assistant else "")


def chatml_default_system(tokenizer, where: str) -> str | None:
    """The system prompt the tokenizer's chat template falls back to (None when it writes no system turn),
    after checking by rendering that the template lays out a system/user/assistant/user chat as ChatML."""
    render = lambda messages: tokenizer.apply_chat_template(messages, add_generation_prompt=True,  # noqa: E731
                                                            tokenize=False)
    p = _PROBE
    full = [{"role": "system", "content": p["system"]}, {"role": "user", "content": p["user"]},
            {"role": "assistant", "content": p["assistant"]}, {"role": "user", "content": p["user2"]}]
    expected = chatml([("system", p["system"]), ("user", p["user"]), ("assistant", p["assistant"]),
                       ("user", p["user2"])])
    without_system = render([{"role": "user", "content": p["user"]}])
    fallback = re.fullmatch(r"<\|im_start\|>system\n(.*?)<\|im_end\|>\n" + re.escape(chatml([("user", p["user"])])),
                            without_system, flags=re.S)
    if render(full) != expected or not (fallback or without_system == chatml([("user", p["user"])])):
        raise ModelfileError(f"the chat template of {where} is not ChatML, the only chat format `make export` "
                             "writes an Ollama TEMPLATE for; the GGUF still carries the Jinja template "
                             "(llama.cpp and LM Studio use it): write the Modelfile's TEMPLATE by hand")
    return fallback.group(1) if fallback else None


def go_template(default_system: str | None) -> str:
    if default_system is not None and ("{{" in default_system or "}}" in default_system):
        raise ModelfileError(f"the default system prompt {default_system!r} contains Go template braces")
    default = "" if default_system is None else DEFAULT_SYSTEM_BLOCK.format(system=default_system)
    return CHATML_GO_TEMPLATE.replace("{default}", default)


def _quoted(value: str, what: str) -> str:
    if '"""' in value:
        raise ModelfileError(f'the {what} contains """, which a Modelfile cannot quote; edit it out and export again')
    return f'"""{value}"""'


def modelfile(gguf_name: str, template: str, system: str | None, sampling, stops: list[str]) -> str:
    """The Modelfile text. `sampling`: core.sampling.GenerationConfig; `stops`: the end-of-turn token strings."""
    lines = ["# Ollama Modelfile written by `make export` (docs/export.md): ollama create mystyle -f Modelfile",
             f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(template, 'chat template')}"]
    if system is not None:
        lines.append(f"SYSTEM {_quoted(system, 'system prompt')}")
    if sampling.do_sample:
        lines += [f"PARAMETER temperature {sampling.temperature:g}", f"PARAMETER top_p {sampling.top_p:g}"]
    else:
        lines.append("PARAMETER temperature 0")   # greedy, as eval's do_sample: false
    lines += [f"PARAMETER repeat_penalty {sampling.repetition_penalty:g}",
              f"PARAMETER num_predict {sampling.max_new_tokens}"]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    return "\n".join(lines) + "\n"
