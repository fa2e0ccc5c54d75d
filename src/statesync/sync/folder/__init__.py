"""The working folder: its files, its record, and writing snapshots into it."""
