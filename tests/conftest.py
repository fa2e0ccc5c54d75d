"""Shared fixtures: every test gets private user folders and may ask for any backend."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import cloud_rigs, leakrecord
from tests.rigs import RIGS


@pytest.fixture(scope="session", autouse=True)
def _clean_live_buckets() -> Iterator[None]:
    """On a live cloud, delete what the session wrote under its prefixes (see cloud_rigs)."""
    yield
    cloud_rigs.cleanup()


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("STATESYNC_STORE", raising=False)
    # A store that stays unreachable fails a test in seconds, not after the CLI's 5 minutes.
    monkeypatch.setenv("STATESYNC_RETRY_BUDGET", "10s")
    leakrecord.install_httpx()  # a no-op unless a test module imported httpx


@pytest.fixture(params=sorted(RIGS))
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend (skipped if its emulator is not running)."""
    url = RIGS[request.param](tmp_path)
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    return url


LONG_VAR = "STATESYNC_LONG"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``long`` unless ``STATESYNC_LONG=1`` (the long fault and load runs),
    and the cloud variants of each scenario but one (:func:`_other_clouds`)."""
    if os.environ.get(LONG_VAR) == "1":
        return
    skip = pytest.mark.skip(reason=f"long run: set {LONG_VAR}=1 (scripts/test.sh --long)")
    sampled = _other_clouds(items)
    for item in items:
        if "long" in item.keywords or ("long_on_cloud" in item.keywords and _on_cloud(item)):
            item.add_marker(skip)
        elif item.nodeid in sampled:
            item.add_marker(pytest.mark.skip(reason=sampled[item.nodeid]))


CLOUD_IDS = frozenset({"s3", "azure", "gcs"})

#: Scenario suites: what they test is statesync's own logic, which runs the same over
#: every driver. The drivers' own suites (backends, conformance, crypto's KMS, the
#: LangGraph conformance suite, terraform) run on every cloud in every run.
SCENARIO_DIRS = (
    "tests/sync/",
    "tests/reliability/",
    "tests/e2e/",
    "tests/api/",
    "tests/service/",
    "tests/formats/",
    "tests/server/",
)


def _other_clouds(items: list[pytest.Item]) -> dict[str, str]:
    """Node id -> skip reason for the cloud variants the default run leaves to the long run.

    A scenario parametrized over two or more clouds (the same test, the same other
    parameters) runs in the default run on one of them, picked by the scenario's name:
    the same in every run and every xdist worker, and spread over the three clouds.
    Its local and memory variants always run; ``STATESYNC_LONG=1`` runs every cloud.
    """
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or not item.nodeid.startswith(SCENARIO_DIRS):
            continue
        parts = callspec.id.split("-")
        clouds = [p for p in parts if p in CLOUD_IDS]
        if len(clouds) == 1:
            key = (item.nodeid.split("[")[0], "-".join(p for p in parts if p not in CLOUD_IDS))
            groups.setdefault(key, []).append((clouds[0], item.nodeid))
    out: dict[str, str] = {}
    for key, members in groups.items():
        if len(members) < 2:
            continue
        members.sort()
        kept = members[zlib.crc32("::".join(key).encode()) % len(members)][0]
        reason = f"long run: the default run takes this scenario on {kept} only ({LONG_VAR}=1)"
        out.update({nodeid: reason for cloud, nodeid in members if cloud != kept})
    return out


def _on_cloud(item: pytest.Item) -> bool:
    """Whether a parametrized test runs this time on a cloud emulator (an id part s3/azure/gcs)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and bool(CLOUD_IDS & set(callspec.id.split("-")))


def pytest_configure(config: pytest.Config) -> None:
    """In the process that owns the run: a fresh file where rigs note the buckets they make,
    and a fresh folder for the transcripts of tests/leakrecord.py (the workers inherit both).
    Every process then records its CLI runs."""
    if not hasattr(config, "workerinput"):
        from tests import leakscan

        _compile_sources()

        fd, path = tempfile.mkstemp(prefix="statesync-buckets-")
        os.close(fd)
        os.environ[leakscan.BUCKETS_VAR] = path
        os.environ[leakrecord.TRANSCRIPTS_VAR] = tempfile.mkdtemp(prefix="statesync-transcripts-")
    leakrecord.install()


def _compile_sources() -> None:
    """Write the bytecode of ``src/`` and ``tests/`` once, before any test starts a CLI.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (this machine and CI set it), nothing
    writes ``.pyc`` files of the editable install, so every CLI subprocess compiled
    about 100 modules again: a third of its start (CLI-heavy tests ran 27 % longer).
    Bytecode already current is left as it is.
    """
    import compileall

    for folder in (ROOT / "src", ROOT / "tests"):
        compileall.compile_dir(folder, quiet=2, workers=0)


ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything the session left leaks a secret (tests/leakscan.py).

    Runs once, in the process that owns the whole run (the xdist controller,
    or pytest itself without xdist), over every store the session wrote, every
    CLI output and HTTP response the tests recorded (tests/leakrecord.py) and
    the modes of every private file. A finding sets exit status 1 and prints
    ``leak scan FAILED`` with the names of the first 20 (files and records,
    never the values).
    """
    if hasattr(session.config, "workerinput"):
        return
    from tests import leakscan

    transcripts = Path(os.environ.get(leakrecord.TRANSCRIPTS_VAR, "") or ".nonexistent")
    try:
        if not os.environ.get("STATESYNC_SKIP_LEAKSCAN"):
            _leak_scan(session, transcripts)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(os.environ.get(leakscan.BUCKETS_VAR, ""))
        if transcripts.name.startswith("statesync-transcripts-"):
            shutil.rmtree(transcripts, ignore_errors=True)


def _leak_scan(session: pytest.Session, transcripts: Path) -> None:
    from tests import leakscan

    root = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    started = time.monotonic()
    report = leakscan.scan_all(root, transcripts=transcripts)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        took = time.monotonic() - started
        reporter.write_line(f"leak scan: {report.summary()} ({took:.1f} s)")
    if report.found:
        if reporter is not None:
            reporter.write_line(
                f"leak scan FAILED: {len(report.found)} findings (a planted secret, a "
                "detect-secrets hit or a private file readable by others):",
                red=True,
            )
            reporter.write_line("\n".join(map(str, report.found[:20])), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Show the reports tests left as ``report-*.txt`` in their session's temp folder.

    (The LangGraph conformance reports: printed here so they reach CI logs
    without ``-s``, also from xdist workers, whose temp folders sit below.)
    """
    if hasattr(config, "workerinput"):
        return
    root = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    reports = sorted([*root.glob("report-*.txt"), *root.glob("*/report-*.txt")])
    if reports:
        terminalreporter.section("reports")
        for path in reports:
            terminalreporter.write(path.read_text())
