"""PathMatcher's one-regex fast path answers as pathspec does."""

from __future__ import annotations

import pathspec
from hypothesis import given, settings
from hypothesis import strategies as st

from statesync.sync.secrets.pathmatch import PathMatcher
from statesync.sync.secrets.rules import DEFAULT_GLOBS

_PART = st.sampled_from(
    [
        "secrets",
        ".env",
        ".env.example",
        "a.pem",
        "id_rsa",
        ".aws",
        "credentials",
        "x.json",
        "service-account-1.json",
        ".kube",
        "config",
        "kubeconfig",
        "b",
        "c.key",
        "task.json",
    ]
)
_PATHS = st.lists(_PART, min_size=1, max_size=4).map("/".join)
_GLOBS = st.lists(
    st.sampled_from([*DEFAULT_GLOBS, "b/", "!secrets/", "/x.json", "**/b/**", "!*.pem"]),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(_GLOBS, _PATHS)
def test_fast_path_agrees_with_pathspec(globs: list[str], path: str) -> None:
    spec = pathspec.GitIgnoreSpec.from_lines(globs)
    assert PathMatcher(globs).matches(path) == (bool(globs) and bool(spec.match_file(path)))


def test_default_globs_still_match() -> None:
    m = PathMatcher(DEFAULT_GLOBS)
    assert m.matches("secrets/a.txt") and m.matches("x/.env") and not m.matches("x/.env.example")
    assert not m.matches("tasks-000/task-00001.json")
