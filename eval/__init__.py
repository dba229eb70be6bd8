"""`make eval`: does the adapter write more like the author than the base model does, by how much, and how
sure are we? Perplexity, generations, stylometry, attribution, blind A/B sheets and a report
(docs/evaluation.md describes every method; docs/metrics-format.md the numbers it writes)."""
