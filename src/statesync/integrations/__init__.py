"""Integrations with agent frameworks; each imports its framework lazily (DESIGN.md §10)."""
