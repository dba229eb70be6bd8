"""docs/configuration.md's key tables are generated from the settings models: the committed file must equal
a fresh rendering, and a changed model must change the rendering (control: the check is not vacuous)."""
from core import config_docs
from core.config import Settings, setting


def test_configuration_doc_is_generated_from_the_models():
    text = config_docs.DOC.read_text(encoding="utf-8")
    assert text.count("<!-- settings: ") == 4   # prep, train, pairs, eval
    assert config_docs.render(text) == text, "docs/configuration.md is stale: run `python -m core.config_docs`"


def test_a_changed_setting_changes_the_rendering():
    class Tiny(Settings):
        chunk_chars: int = setting(300, "characters per chunk", min=10)
        mode: str = setting("fast", "how to run")

    assert config_docs.rows(Tiny) == ["| `chunk_chars` | `300` | ≥ 10 | characters per chunk |",
                                      "| `mode` | `fast` |  | how to run |"]
    text = config_docs.DOC.read_text(encoding="utf-8")
    assert config_docs.render(text.replace("| `chunk.max_tokens` | `800` |", "| `chunk.max_tokens` | `900` |")) == text
