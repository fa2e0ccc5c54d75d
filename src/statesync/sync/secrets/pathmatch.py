"""The one matcher of path globs with ``.gitignore`` semantics (:mod:`pathspec`, gitwildmatch).

Secret-file globs, ``push --exclude`` and ``.statesyncignore``, and
``pull --path`` all match through :class:`PathMatcher`, so a pattern means
the same thing wherever a user writes it: ``name`` matches in any folder,
``/name`` only at the root, ``dir/`` everything below a folder, ``**``
any depth, ``!pattern`` re-includes, and the last matching pattern wins.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterable, Iterator

import pathspec
from pathspec.util import normalize_file

from statesync.errors import UsageError


class PathMatcher:
    """Relative POSIX paths against ``.gitignore`` patterns.

    Raises :class:`UsageError` (naming ``origin``) for a pattern gitwildmatch
    cannot parse. An empty matcher matches nothing and is falsy.
    """

    def __init__(self, patterns: Iterable[str], origin: str = "glob") -> None:
        self.patterns = tuple(patterns)
        try:
            with _quiet_regex_warnings():
                self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)
        except (ValueError, re.error) as exc:  # pathspec's errors; re's for "[z-a]"
            raise UsageError(f"{origin}: invalid pattern: {exc}") from None
        with _quiet_regex_warnings():
            self._any = _any_pattern(self._spec)

    def matches(self, path: str) -> bool:
        """True if ``path`` (relative, ``/``-separated) is matched by the patterns.

        Most paths match no pattern at all: one search of the patterns'
        combined regex answers those; any other path goes through pathspec
        (the last matching pattern, negations, folder marks).
        """
        if not self.patterns:
            return False
        if self._any is not None and self._any.search(normalize_file(path)) is None:
            return False
        return self._spec.match_file(path)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __add__(self, other: PathMatcher) -> PathMatcher:
        """Both pattern lists, ``other``'s after ours (so its lines win ties)."""
        return PathMatcher(self.patterns + other.patterns)


@contextlib.contextmanager
def _quiet_regex_warnings() -> Iterator[None]:
    """Hold back ``re``'s FutureWarning ("Possible nested set") for a glob like ``[[:alpha:]]``.

    The pattern still compiles and means what it means today; the warning would
    only put lines of Python source above a command's one-line answer.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


def _any_pattern(spec: pathspec.GitIgnoreSpec) -> re.Pattern[str] | None:
    """One regex that finds a match wherever any of ``spec``'s patterns does, or None.

    pathspec tests a path with ``pattern.regex.search`` for each pattern whose
    ``include`` is set, so a path none of them matches is not matched: the
    alternation of those regexes (named groups made plain, so that they may
    repeat) decides that in one search. None when that cannot be built (str
    regexes of one set of flags, no back-references), and then every path
    goes through pathspec.
    """
    parts: list[str] = []
    flags: set[int] = set()
    for pattern in spec.patterns:
        regex = getattr(pattern, "regex", None)
        if pattern.include is None or regex is None:
            continue
        if not isinstance(regex.pattern, str) or "(?P=" in regex.pattern:
            return None
        parts.append(_NAMED_GROUP.sub("(?:", regex.pattern))
        flags.add(regex.flags)
    if len(flags) > 1:
        return None
    try:
        return re.compile(
            "|".join(f"(?:{p})" for p in parts) or "(?!)", flags.pop() if flags else 0
        )
    except re.error:
        return None
