"""Shared pieces of the integration tests: conformance reports shown in every run's summary."""

from __future__ import annotations

import pytest

#: Text of each conformance report, by backend, as the tests produced them.
REPORTS: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the LangGraph conformance reports (visible in CI logs without ``-s``)."""
    if not REPORTS:
        return
    terminalreporter.section("langgraph-checkpoint-conformance")
    for name in sorted(REPORTS):
        terminalreporter.write(REPORTS[name])
