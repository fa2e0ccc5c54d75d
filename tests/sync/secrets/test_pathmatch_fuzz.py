"""Any glob list builds a :class:`PathMatcher` or is a :class:`UsageError`; matching never fails.

Globs come from ``statesync.toml``, ``.statesyncignore``, ``push --exclude`` and
``pull --path``: text anyone writes. Found by the ``statesync.toml`` fuzz test:
``[z-a]`` raised ``re.error`` (an internal error in every command reading it) and
``[[:alpha:]]`` printed ``re``'s FutureWarning, two lines of Python source, above
the command's answer.
"""

from __future__ import annotations

import uuid
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statesync.errors import UsageError
from statesync.sync.secrets.pathmatch import PathMatcher
from tests.fuzzing import fuzz_settings

GLOB_CHARS = st.sampled_from([*"[]!-^*?/\\.az:{}", "[:alpha:]", "**", "\x00", "é", "[z-a]", "[[:"])
GLOBS = st.lists(st.lists(GLOB_CHARS, max_size=8).map("".join), max_size=4)
PATHS = st.lists(st.sampled_from(["a", "z", "-", "[", "é", ".env", "d"]), min_size=1, max_size=4)


@fuzz_settings(default=80, long=20000)
@given(globs=GLOBS, path=PATHS)
def test_any_globs_build_a_matcher_or_a_usage_error(globs: list[str], path: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be printed above a command's answer
        try:
            matcher = PathMatcher(globs, "fuzz")
        except UsageError as exc:
            assert str(exc).startswith("fuzz: invalid pattern: ") and "\n" not in str(exc)
            return
        assert matcher.matches("/".join(path)) in (True, False)


@pytest.mark.parametrize("glob", ["[z-a]", "a/[9-0]/b"])
def test_a_reversed_range_is_a_usage_error(glob: str) -> None:
    with pytest.raises(UsageError, match="invalid pattern"):
        PathMatcher([glob], "fuzz")


def test_a_posix_class_glob_builds_without_a_warning() -> None:
    glob = f"[[:alpha:]]{uuid.uuid4().hex}"  # a new regex: re warns only when it compiles one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PathMatcher([glob]).matches("x") in (True, False)
