"""``statesync.toml`` as properties: a valid file is read as written; anything else is exit 2.

Issue 18's fuzz bullet, ``statesync.toml``. Properties:

* a file built from the schema (store, env, ``[secrets]``, ``[promotion]``,
  ``[keys]``) with arbitrary strings loads to exactly those values;
* any text (a valid file with bytes flipped, cut or inserted, a value of
  the wrong type at any place, random bytes) loads or raises
  :class:`UsageError` in one line naming the file, never another exception;
* through the CLI (``--config FILE``), a file that does not load is exit 2
  with one ``statesync: error:`` line; one that loads is never an internal error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statesync.config import load_config
from statesync.errors import UsageError
from tests.fuzzing import HOSTILE, assert_clean, cli, fuzz_settings, set_at, value_paths

#: TOML basic strings hold any text but surrogates; keep them short.
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
NAMES = st.text(st.characters(whitelist_categories=["Ll", "Nd"]), min_size=1, max_size=8)
#: Globs that always compile (``\\`` or ``!`` alone do not: see test_pathmatch_fuzz.py).
GLOBS = st.text(st.sampled_from(list("abz09*._-/é ")), min_size=1, max_size=12)
PATTERNS = st.sampled_from([r"(?i)pass(word)?", r"^token$", r".*secret.*", "x", r"\d+"])


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's; DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return json.dumps(value)


def to_toml(doc: dict[str, Any]) -> str:
    """A TOML document: top-level scalars first, then one ``[table]`` per dict."""
    lines = [
        f"{toml_string(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)
    ]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{toml_string(name)}]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["store"] = "memory://" + draw(NAMES)
    if draw(st.booleans()):
        doc["env"] = draw(TEXT)
    if draw(st.booleans()):
        doc["secrets"] = {"globs": draw(st.lists(GLOBS, max_size=4)), "key_pattern": draw(PATTERNS)}
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(NAMES, NAMES), max_size=3))
        doc["promotion"] = {"allowed": [f"{a}->{b}" for a, b in pairs]}
    if draw(st.booleans()):
        doc["keys"] = {"recipients": [f"passphrase:{n}" for n in draw(st.lists(NAMES, max_size=3))]}
    return doc


def _load(folder: Path, text: bytes) -> Any:
    path = folder / "statesync.toml"
    path.write_bytes(text)
    return load_config(cwd=folder)


@fuzz_settings(default=30, long=3000)
@given(doc=configs())
def test_a_valid_file_loads_as_written(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    config = _load(folder, to_toml(doc).encode())
    assert config.store == doc.get("store", config.store)
    if "env" in doc:
        assert config.env == (doc["env"] or "default") or config.env == doc["env"]
    if "secrets" in doc:
        assert list(config.policy.globs) == doc["secrets"]["globs"]
        assert config.policy.key_pattern == doc["secrets"]["key_pattern"]
    if "promotion" in doc:
        assert config.promotion_allowed == doc["promotion"]["allowed"]
    assert config.recipients == doc.get("keys", {}).get("recipients", [])


def _assert_loads_or_usage_error(folder: Path, text: bytes) -> None:
    try:
        _load(folder, text)
    except UsageError as exc:
        message = str(exc)
        assert message.startswith(str(folder / "statesync.toml")), message
    # anything else propagates and fails the test


VALID = to_toml(
    {
        "store": "memory://fuzz",
        "env": "dev",
        "secrets": {"globs": ["*.pem", "**/.env"], "key_pattern": "(?i)password"},
        "promotion": {"allowed": ["dev->staging"]},
        "keys": {"recipients": ["passphrase:team"]},
    }
).encode()


@fuzz_settings(default=50, long=10000)
@given(pick=st.data())
def test_damaged_text_loads_or_is_a_usage_error(
    tmp_path_factory: pytest.TempPathFactory, pick: st.DataObject
) -> None:
    text = bytearray(VALID)
    for _ in range(pick.draw(st.integers(1, 4))):
        at = pick.draw(st.integers(0, len(text)))
        how = pick.draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and at < len(text):
            text[at] = pick.draw(st.integers(0, 255))
        elif how == "cut":
            del text[at:]
        else:
            text[at:at] = pick.draw(
                st.sampled_from([b"[", b"]", b'"', b"=", b"\n", b"[[x]]\n", b"\\u", b"\x00"])
                | st.binary(max_size=8)
            )
    _assert_loads_or_usage_error(tmp_path_factory.mktemp("cfg"), bytes(text))


@fuzz_settings(default=40, long=5000)
@given(pick=st.data())
def test_a_hostile_value_anywhere_loads_or_is_a_usage_error(
    tmp_path_factory: pytest.TempPathFactory, pick: st.DataObject
) -> None:
    import tomllib

    doc = tomllib.loads(VALID.decode())
    path = pick.draw(st.sampled_from(value_paths(doc)))
    hostile = [v for v in HOSTILE if v is not None and v != "\ud800"] + ["(unclosed", "a->", "->"]
    set_at(doc, path, pick.draw(st.sampled_from(hostile)))
    _assert_loads_or_usage_error(tmp_path_factory.mktemp("cfg"), to_toml(doc).encode())


@fuzz_settings(default=40, long=5000)
@given(text=st.binary(max_size=200) | TEXT.map(str.encode))
def test_any_bytes_load_or_are_a_usage_error(
    tmp_path_factory: pytest.TempPathFactory, text: bytes
) -> None:
    _assert_loads_or_usage_error(tmp_path_factory.mktemp("cfg"), text)


# --- through the command line ------------------------------------------------------


@fuzz_settings(default=8, long=1000)
@given(pick=st.data())
def test_a_fuzzed_config_through_the_cli_is_exit_2_in_one_line_or_runs(
    tmp_path_factory: pytest.TempPathFactory, pick: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("cli")
    text = bytearray(VALID.replace(b"memory://fuzz", (folder / "store").as_uri().encode()))
    # The place is drawn independently of the folder's name (cli9, cli10, ...): a bound
    # that depends on it made hypothesis's replays draw differently (FlakyStrategyDefinition).
    at = pick.draw(st.integers(0, 4096)) % (len(text) + 1)
    text[at:at] = pick.draw(st.sampled_from([b"[", b'"', b"=", b"\x00", b"x = 1\n", b"\xff"]))
    config = folder / "statesync.toml"
    config.write_bytes(bytes(text))
    try:
        load_config(config_file=config)
        loads = True
    except UsageError:
        loads = False
    command = pick.draw(st.sampled_from([("envs",), ("status", str(folder / "w")), ("info",)]))
    code, err = cli(*command, "--config", str(config))
    assert_clean(code, err, (command, bytes(text)))
    if not loads:
        assert code == 2, (command, err)
        assert len(err.strip().splitlines()) == 1, err
        assert re.match(r"statesync: error: .*statesync\.toml", err), err


@pytest.mark.parametrize("glob", ["[z-a]", "[[:alpha:]]", "\\", "!"])
def test_a_glob_that_does_not_compile_is_exit_2_naming_the_file(tmp_path: Path, glob: str) -> None:
    """``[z-a]`` was an internal error (``re.error``), ``[[:alpha:]]`` printed two warnings."""
    config = tmp_path / "statesync.toml"
    config.write_text(f"[secrets]\nglobs = [{toml_string(glob)}]\n")
    code, err = cli("envs", "--config", str(config), "--store", str(tmp_path / "none"))
    assert_clean(code, err, glob)
    assert len(err.strip().splitlines()) == 1, err
    if glob.startswith("[z") or glob in ("\\", "!"):
        assert code == 2 and f"{config}: [secrets] globs: invalid pattern" in err, err
