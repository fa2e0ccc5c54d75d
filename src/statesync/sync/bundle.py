"""Export/import bundles. PLACEHOLDER: being written; see the bundle work item."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from statesync.errors import NotSupported
from statesync.sync.repo import Repo
from statesync.sync.secrets import SecretPolicy


@dataclass
class ExportResult:
    path: str
    format: str
    snapshot: str
    files: int
    binaries_included: int
    bytes: int


@dataclass
class ImportResult:
    snapshot: str
    env: str
    serial: int
    files: int
    skipped: list[str]
    changed: bool


def export_bundle(repo: Repo, snapshot: str, out: Path, *, include_binaries: bool,
                  paths: list[str], description: str, tags: dict[str, str]) -> ExportResult:
    raise NotSupported("export is not implemented yet")


def import_bundle(repo: Repo, path: Path, env: str, *, skip_existing: bool, message: str,
                  policy: SecretPolicy) -> ImportResult:
    raise NotSupported("import is not implemented yet")
