"""The Textual console: renders engine snapshots and sends commands; never blocks the engine."""
