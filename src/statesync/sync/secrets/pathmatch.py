"""The one matcher of path globs with ``.gitignore`` semantics (:mod:`pathspec`, gitwildmatch).

Secret-file globs, ``push --exclude`` and ``.statesyncignore``, and
``pull --path`` all match through :class:`PathMatcher`, so a pattern means
the same thing wherever a user writes it: ``name`` matches in any folder,
``/name`` only at the root, ``dir/`` everything below a folder, ``**``
any depth, ``!pattern`` re-includes, and the last matching pattern wins.
"""

from __future__ import annotations

from collections.abc import Iterable

import pathspec

from statesync.errors import UsageError


class PathMatcher:
    """Relative POSIX paths against ``.gitignore`` patterns.

    Raises :class:`UsageError` (naming ``origin``) for a pattern gitwildmatch
    cannot parse. An empty matcher matches nothing and is falsy.
    """

    def __init__(self, patterns: Iterable[str], origin: str = "glob") -> None:
        self.patterns = tuple(patterns)
        try:
            self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)
        except ValueError as exc:  # pathspec's pattern errors are ValueErrors
            raise UsageError(f"{origin}: invalid pattern: {exc}") from None

    def matches(self, path: str) -> bool:
        """True if ``path`` (relative, ``/``-separated) is matched by the patterns."""
        return bool(self.patterns) and self._spec.match_file(path)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __add__(self, other: PathMatcher) -> PathMatcher:
        """Both pattern lists, ``other``'s after ours (so its lines win ties)."""
        return PathMatcher(self.patterns + other.patterns)
