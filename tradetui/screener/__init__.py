"""The all-market screener: per-symbol figures from public streams (docs/screener.md)."""
