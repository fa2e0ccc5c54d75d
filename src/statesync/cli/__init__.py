"""The command line: parsing, the key commands, output and the progress bar.

``statesync.cli:main`` is the console script; ``python -m statesync.cli`` runs it too.
"""

from statesync.cli.main import main

__all__ = ["main"]
