"""The bundle format: one self-contained file per snapshot."""
