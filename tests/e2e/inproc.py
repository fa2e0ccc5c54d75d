"""The CLI run in this process (``statesync.cli.main.main``), its bytes captured at the fd."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from statesync.cli.main import main
from tests import leakrecord


@dataclass(frozen=True)
class Ran:
    code: int
    out: bytes
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def one_line_error(self, code: int, text: str) -> None:
        """Exit ``code``, one ``statesync: error:`` line naming ``text``, nothing on stdout."""
        assert self.code == code, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("statesync: error: "), self.err
        assert text in lines[0], self.err
        assert self.out == b""


@dataclass(frozen=True)
class Cli:
    """``statesync --store STORE ...`` in this process."""

    store: str
    capture: pytest.CaptureFixture[bytes]

    def __call__(self, *args: str) -> Ran:
        code = main(["--store", self.store, *args])
        out, err = self.capture.readouterr()
        leakrecord.record_cli(list(args), code, out, err)
        return Ran(code, out, err.decode())

    def ok(self, *args: str) -> Ran:
        ran = self(*args)
        assert ran.code == 0, ran.err
        return ran
