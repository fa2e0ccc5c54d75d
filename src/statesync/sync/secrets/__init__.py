"""Secrets: which values are secret, where they sit in documents, how they are sealed."""
