"""The official LangGraph checkpointer suite, base and every extended capability, per backend."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

from statesync.api import Store
from statesync.integrations.langgraph import StatesyncSaver


def _run_suite(
    url: str, name: str, report_dir: Path, *, encrypt: bool = False, created: bool = False
) -> None:
    if not created:
        Store.init(url).close()

    @checkpointer_test(name=name)
    async def factory() -> AsyncIterator[StatesyncSaver]:
        saver = StatesyncSaver.open(url, encrypt=encrypt)
        try:
            yield saver
        finally:
            saver.close()

    report = asyncio.run(validate(factory))
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        report.print_report()
    (report_dir / f"report-langgraph-{name.replace(' ', '-')}.txt").write_text(text.getvalue())
    failures = {cap: r.failures for cap, r in report.results.items() if r.passed is not True}
    assert report.conformance_level() == "FULL", failures
    assert {c.value for c in ALL_CAPABILITIES} == {
        cap for cap, r in report.results.items() if r.detected and r.passed
    }


def test_conformance_suite_passes_in_full(
    any_store_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _run_suite(
        any_store_url,
        f"StatesyncSaver on {any_store_url.split(':', 1)[0]}",
        tmp_path_factory.getbasetemp(),
    )


def test_conformance_suite_passes_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    url = (tmp_path / "store").as_uri()
    with Store.init(url) as store:
        store.keys().init("langgraph", ["passphrase"])
    _run_suite(
        url,
        "StatesyncSaver encrypted on file",
        tmp_path_factory.getbasetemp(),
        encrypt=True,
        created=True,
    )
