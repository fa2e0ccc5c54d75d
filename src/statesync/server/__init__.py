"""``statesync serve``: the HTTP server over one store (DESIGN.md §9)."""
