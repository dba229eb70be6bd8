"""Validated YAML configs: every stage describes its settings as dataclasses; this module loads YAML plus
command-line overrides into them and rejects unknown keys (naming the closest valid key), wrong types and
out-of-range values before anything heavy is loaded.

Field metadata understood here: `min`, `max` (inclusive bounds), `choices` (allowed values), `doc`.
"""
import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config problem, worded for the user: which file, which key, what to do."""


def _closest(key: str, valid: list[str], prefix: str) -> str:
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
    return f"; did you mean '{prefix}{match[0]}'?" if match else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _check_value(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: value {value!r} is not allowed")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of settings, got {value!r}")
        return _build(tp, value, where + ".")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_check_value(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, val_tp = typing.get_args(tp)
        return {_check_value(k, key_tp, where): _check_value(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is Any:
        return value
    if tp in (bool, int, float, str):
        if isinstance(value, bool) != (tp is bool) or not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {tp}")


def _check_range(value: Any, meta: typing.Mapping, where: str) -> None:
    if value is None:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if "choices" in meta and item not in meta["choices"]:
            raise ConfigError(f"{where}: {item!r} is not one of {list(meta['choices'])}")
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{where}: {value!r} is below the minimum {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{where}: {value!r} is above the maximum {meta['max']}")


def _build(cls: type, raw: dict, prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            raise ConfigError(f"unknown key '{prefix}{key}'{_closest(str(key), list(fields), prefix)}")
    values = {}
    for name, field in fields.items():
        where = f"{prefix}{name}"
        if name in raw:
            value = _check_value(raw[name], hints[name], where)
            _check_range(value, field.metadata, where)
            values[name] = value
    return cls(**values)  # __post_init__ raises ConfigError for cross-key rules, naming the keys


def parse_overrides(items: list[str] | str | None) -> dict:
    """`["lora.r=8", "max_steps=20"]` (or one space-separated string) -> nested dict; values parsed as YAML."""
    if not items:
        return {}
    if isinstance(items, str):
        items = items.split()
    nested: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value (e.g. lora_r=8)")
        key, raw_value = item.split("=", 1)
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw_value) if raw_value != "" else ""
    return nested


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at top level")
    return loaded or {}


def load(cls: type, path: str | Path | None, overrides: list[str] | str | None = None) -> Any:
    """Load `path` (YAML mapping; None = all defaults) into dataclass `cls`, applying overrides."""
    raw = _read_yaml(Path(path)) if path else {}
    label = str(path) if path else "defaults"
    try:
        return _build(cls, _merge(raw, parse_overrides(overrides)), "")
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None


def load_sections(cls: type, path: str | Path) -> Any:
    """Only the top-level sections of `path` that `cls` declares, validated; the file's other sections belong
    to another stage's schema (e.g. train's chat reads eval.yaml's sampling settings)."""
    wanted = {f.name for f in dataclasses.fields(cls)}
    raw = _read_yaml(Path(path))
    try:
        return _build(cls, {k: v for k, v in raw.items() if k in wanted}, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def setting(default: Any, doc: str = "", **meta: Any) -> Any:
    """A dataclass field with its documentation and bounds; mutable defaults are copied per instance."""
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        factory = (lambda d=default: type(d)(d)) if not dataclasses.is_dataclass(default) else (
            lambda d=default: dataclasses.replace(d))
        return dataclasses.field(default_factory=factory, metadata={"doc": doc, **meta})
    return dataclasses.field(default=default, metadata={"doc": doc, **meta})
