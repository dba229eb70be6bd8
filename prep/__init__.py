"""`make data`: a Markdown/meta.json archive -> leak-free, reproducible SFT JSONL (prompt/completion)."""
