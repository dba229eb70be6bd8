"""docs/configuration.md's tables of settings, generated from the settings models, so they cannot drift from
the code: every key (dotted for nested models), its default, what values are allowed and its one-line meaning.

    python -m core.config_docs            # rewrite the generated tables in docs/configuration.md
    python -m core.config_docs --check    # exit 1 if they are stale (tests/test_config_docs.py does this)

A table is generated between `<!-- settings: <module>.<Model> -->` and `<!-- end of settings -->`; the prose
around the tables is written by hand. The model is imported by the name in its marker, so core imports no
stage code.
"""
import argparse
import importlib
import re
import sys
import typing

from annotated_types import Ge, Le
from pydantic import BaseModel

from core.manifest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "configuration.md"
TABLE = re.compile(r"(<!-- settings: ([\w.]+) -->\n)(.*?)(<!-- end of settings -->)", re.S)
HEADER = "| key | default | allowed | meaning |\n|---|---|---|---|\n"


def _value(value) -> str:
    """A default as it is written in the YAML files."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(map(_value, value)) + "]"
    return str(value)


def _allowed(field) -> str:
    annotation, parts = field.annotation, []
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, type(int | None)) else ()
    inner = [m for m in members if m is not type(None)]
    target = inner[0] if len(inner) == 1 else annotation
    if typing.get_origin(target) is list:
        target = typing.get_args(target)[0]
    if typing.get_origin(target) is typing.Literal:
        parts.append(", ".join(map(str, typing.get_args(target))))
    for bound in field.metadata:
        if isinstance(bound, Ge):
            parts.append(f"≥ {bound.ge}")
        elif isinstance(bound, Le):
            parts.append(f"≤ {bound.le}")
    text = "; ".join(parts)
    if len(inner) > 1:
        text = " or ".join("a list" if typing.get_origin(m) is list else m.__name__ for m in inner)
    if type(None) in members:
        text += ", or `null`" if text else "`null` too"
    return text


def rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines += rows(annotation, f"{prefix}{name}.")
            continue
        lines.append(f"| `{prefix}{name}` | `{_value(field.get_default(call_default_factory=True))}` | "
                     f"{_allowed(field)} | {field.description} |")
    return lines


def render(text: str) -> str:
    """`text` with every settings table regenerated from its model."""
    def table(match: re.Match) -> str:
        module, _, name = match.group(2).rpartition(".")
        model = getattr(importlib.import_module(module), name)
        return match.group(1) + HEADER + "\n".join(rows(model)) + "\n" + match.group(4)

    return TABLE.sub(table, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report whether the tables are stale")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    fresh = render(text)
    if args.check:
        if fresh != text:
            print(f"{DOC} is stale: run `python -m core.config_docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
