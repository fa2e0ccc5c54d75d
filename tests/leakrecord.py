"""What the session's CLI runs printed and its HTTP servers answered, kept for the leak scan.

Every test process appends to its own files in the folder named by
:data:`TRANSCRIPTS_VAR` (made by the run's controller, see ``tests/conftest.py``,
inherited by the xdist workers): ``<pid>.txt`` holds records — one CLI run's
stderr and stdout, one HTTP response's status, headers and body — and
``<pid>.planted`` the secret values the session used (passphrases, tokens,
credentials from the environment a CLI ran with; the bearer or basic
credentials of HTTP requests). At the end of the session
:func:`tests.leakscan.scan` searches every record for every planted value and
runs the independent detector over them. Both files are removed after it.

Capture points (installed once per process by :func:`install`):

* ``subprocess.Popen.communicate`` — every ``subprocess.run`` or
  ``communicate`` of a command that runs statesync (``-m statesync.cli``, a
  ``statesync`` executable), with captured output;
* ``httpx.Client.send`` — every response a test reads with httpx (the real
  ``statesync serve`` rigs, ASGI transports); streamed responses keep their
  headers only;
* explicit calls of :func:`record_cli`, :func:`record_http` and
  :func:`record_log` in the in-process CLI helpers, the urllib helpers and the
  server rig (its stderr log).

A record marked ``payload`` is output whose job is to hand back the user's
data (``cat``, ``export``, a Terraform state read, ``serve tokens add``):
there the folder's planted values may stand, but no credential may.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: The folder (set by the controller, see tests/conftest.py) where test processes keep transcripts.
TRANSCRIPTS_VAR = "STATESYNC_LEAKSCAN_TRANSCRIPTS"
#: Starts every record, then its header line ``LENGTH<TAB>LABEL<TAB>FLAG``, then LENGTH bytes
#: (a binary body may hold these bytes too: readers go by the length, see :func:`records`).
SEP = b"\n\x1e"
#: Planted values shorter than this are not searched (they would match by chance).
MIN_SECRET = 8
#: Environment variables whose values are secrets (the ones that are not names of files).
_SECRET_ENV = re.compile(r"PASSPHRASE|SECRET|TOKEN|PASSWORD|ACCOUNT_KEY", re.IGNORECASE)
_NOT_SECRET_ENV = re.compile(r"_(FILE|PATH|COMMAND|CMD|DIR|URL|HOST|ID|VAR)$|^STATESYNC_TEST_")
#: Commands whose stdout is the user's data (it may hold the folder's secrets).
_PAYLOAD_COMMANDS = frozenset({"cat", "export", "tokens"})
#: The largest body kept of one HTTP response.
MAX_BODY = 4 * 1024 * 1024

_lock = threading.Lock()
_known: set[str] = set()


def _folder() -> Path | None:
    path = os.environ.get(TRANSCRIPTS_VAR)
    return Path(path) if path else None


def _append(suffix: str, data: bytes) -> None:
    folder = _folder()
    if folder is None or not folder.is_dir():
        return
    with _lock, open(folder / f"{os.getpid()}{suffix}", "ab") as fh:
        fh.write(data)


def plant(value: str | bytes | None) -> None:
    """Make ``value`` a planted secret: the session scan fails if any record or object holds it."""
    if not value:
        return
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if len(text) < MIN_SECRET or "\n" in text or text in _known:
        return
    _known.add(text)
    _append(".planted", text.encode(errors="surrogateescape") + b"\n")


def plant_env(env: Mapping[str, str] | None) -> None:
    """Plant the values of the secret variables of ``env`` (passphrases, tokens, account keys)."""
    for name, value in (env or {}).items():
        if _SECRET_ENV.search(name) and not _NOT_SECRET_ENV.search(name):
            plant(value)
        elif name == "AZURE_STORAGE_CONNECTION_STRING":
            found = re.search(r"AccountKey=([^;]+)", value)
            plant(found.group(1) if found else None)


def _label(kind: str) -> str:
    test = os.environ.get("PYTEST_CURRENT_TEST", "(no test)").rsplit(" ", 1)[0]
    return f"{test} {kind}".replace("\n", " ").replace("\x1e", " ")


def _record(kind: str, body: bytes, payload: bool = False) -> None:
    flag = "payload" if payload else "output"
    head = f"{len(body)}\t{_label(kind).replace(chr(9), ' ')}\t{flag}\n".encode()
    _append(".txt", SEP + head + body)


def records(raw: bytes) -> Iterator[tuple[str, bool, bytes]]:
    """(label, payload, body) of every record in a transcript file's bytes."""
    pos = raw.find(SEP)
    while pos != -1:
        end = raw.find(b"\n", pos + len(SEP))
        if end == -1:
            return  # a record cut short (a process killed mid-write)
        length, label, flag = raw[pos + len(SEP) : end].decode(errors="replace").split("\t", 2)
        body = raw[end + 1 : end + 1 + int(length)]
        yield label, flag == "payload", body
        pos = raw.find(SEP, end + 1 + int(length))


def _as_bytes(data: str | bytes | None) -> bytes:
    if data is None:
        return b""
    return data.encode(errors="surrogateescape") if isinstance(data, str) else data


def command_words(args: list[str]) -> list[str]:
    """The plain words of a CLI's arguments (``push``, ``keys init``): safe to name in a report."""
    words = [a for a in args if re.fullmatch(r"[a-z][a-z-]{1,15}", a) and a not in _known]
    return words[:3]


def record_cli(
    args: list[str], code: int | None, out: str | bytes | None, err: str | bytes | None
) -> None:
    """Keep one CLI run's stderr and stdout (``args``: the words after ``statesync``)."""
    plant_env(os.environ)
    words = command_words(args)
    what = f"statesync {' '.join(words)} (exit {code})"
    if err:
        _record(f"{what} stderr", _as_bytes(err))
    if out:
        _record(f"{what} stdout", _as_bytes(out), payload=bool(_PAYLOAD_COMMANDS & set(words)))


def record_log(kind: str, text: str | bytes) -> None:
    """Keep a log a test collected (a server's stderr)."""
    _record(kind, _as_bytes(text))


def record_http(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str] | list[tuple[str, str]],
    body: bytes | None,
    payload: bool = False,
) -> None:
    """Keep one HTTP response: status line, headers, body (``payload``: a state read)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    head = "".join(f"{k}: {v}\n" for k, v in pairs)
    clean_path = path.split("?", 1)[0]
    _record(
        f"HTTP {method} {clean_path} -> {status}",
        f"{status}\n{head}\n".encode() + (body or b"")[:MAX_BODY],
        payload=payload,
    )


def plant_authorization(value: str | None) -> None:
    """Plant the credential of an ``Authorization`` header (bearer token, basic password)."""
    import base64
    import binascii

    if not value or " " not in value:
        return
    scheme, cred = value.split(" ", 1)
    if scheme.lower() == "basic":
        try:
            cred = base64.b64decode(cred, validate=True).decode().split(":", 1)[-1]
        except (binascii.Error, UnicodeDecodeError):
            return
    plant(cred)


def is_state_read(method: str, path: str, status: int) -> bool:
    """A successful Terraform state read: its body is the user's state, secrets and all."""
    return method == "GET" and status == 200 and path.split("?", 1)[0].startswith("/tf/")


def _statesync_args(args: Any) -> list[str] | None:
    """The arguments after ``statesync`` if ``args`` runs the statesync CLI, else None."""
    if isinstance(args, (str, bytes, os.PathLike)):
        return None  # a shell string: not one of the suite's CLI runs
    argv = [os.fsdecode(a) for a in args]
    for i, arg in enumerate(argv):
        if arg == "statesync.cli" and i > 0 and argv[i - 1] == "-m":
            return argv[i + 1 :]
        if Path(arg).name == "statesync" and i == 0:
            return argv[1:]
    return None


_installed = False


def install() -> None:
    """Hook ``Popen`` (and so ``subprocess.run``) in this process; once."""
    global _installed
    if _installed or _folder() is None:
        return
    _installed = True
    original_init = subprocess.Popen.__init__
    original_communicate = subprocess.Popen.communicate

    def init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        original_init(self, args, *rest, **kwargs)
        if _statesync_args(args) is not None:
            plant_env(kwargs.get("env") or os.environ)

    def communicate(self: subprocess.Popen[Any], *a: Any, **k: Any) -> tuple[Any, Any]:
        out, err = original_communicate(self, *a, **k)
        words = _statesync_args(self.args)
        if words is not None:
            record_cli(words, self.returncode, out, err)
        return out, err

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]
    subprocess.Popen.communicate = communicate  # type: ignore[method-assign]


def install_httpx() -> None:
    """Hook ``httpx.Client.send`` (if httpx is imported): keep responses, plant credentials."""
    import sys

    httpx = sys.modules.get("httpx")
    if httpx is None or getattr(httpx.Client.send, "_leakscan", False) or _folder() is None:
        return
    original = httpx.Client.send

    def send(self: Any, request: Any, *a: Any, **k: Any) -> Any:
        plant_authorization(request.headers.get("authorization"))
        response = original(self, request, *a, **k)
        body = None if k.get("stream") else response.content
        path = request.url.path
        record_http(
            request.method,
            path,
            response.status_code,
            list(response.headers.multi_items()),
            body,
            payload=is_state_read(request.method, path, response.status_code),
        )
        return response

    send._leakscan = True  # type: ignore[attr-defined]
    httpx.Client.send = send
