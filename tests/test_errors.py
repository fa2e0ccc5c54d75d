"""The error tree is closed: every error class lives in errors.py and carries its exit code."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from statesync import errors
from statesync.backends.memory import MemoryBackend
from statesync.errors import (
    AccessDenied,
    BackendError,
    BackendUnavailable,
    BundleError,
    Contention,
    FolderRecordError,
    ImportTreeClash,
    IntegrityError,
    InvalidFileName,
    KeysExist,
    LastRecipient,
    LocalFileError,
    MachineIdError,
    NotAFolder,
    NotLocked,
    ObjectChanged,
    RangeNotSatisfiable,
    StatesyncError,
    TransientError,
    UnparseableSecretDocument,
)
from statesync.sync.folder.workdir import RECORD_DIR, WorkRecord, scan_folder
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.store.leases import release
from statesync.sync.store.repo import init_repo

SRC = Path(errors.__file__).parent
_ERROR_NAMES = {
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(SRC.rglob("*.py"))]


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def test_every_exception_class_is_defined_in_errors_py() -> None:
    builtin = {n for n in dir(__builtins__) if n.endswith(("Error", "Exception"))}
    exception_bases = _ERROR_NAMES | builtin | {"Exception", "BaseException"}
    found = [
        f"{path.relative_to(SRC)}:{node.lineno} {node.name}"
        for path, tree in _sources()
        if path.name != "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(_base_name(b) in exception_bases for b in node.bases)
    ]
    assert found == []


def test_no_bare_statesync_error_is_raised() -> None:
    bare = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and _base_name(node.exc.func) == "StatesyncError"
    ]
    assert bare == []


@pytest.mark.parametrize(
    ("cls", "parent", "exit_code"),
    [
        (BundleError, IntegrityError, 4),
        (ImportTreeClash, StatesyncError, 1),
        (NotLocked, StatesyncError, 1),
        (KeysExist, StatesyncError, 1),
        (LastRecipient, StatesyncError, 1),
        (Contention, StatesyncError, 1),
        (UnparseableSecretDocument, StatesyncError, 1),
        (LocalFileError, StatesyncError, 1),
        (NotAFolder, LocalFileError, 1),
        (InvalidFileName, LocalFileError, 1),
        (FolderRecordError, LocalFileError, 1),
        (MachineIdError, LocalFileError, 1),
        (RangeNotSatisfiable, BackendError, 1),
        (ObjectChanged, TransientError, 1),
        (BackendUnavailable, BackendError, 1),
        (AccessDenied, BackendUnavailable, 1),
    ],
)
def test_each_named_error_sits_under_its_parent_with_its_exit_code(
    cls: type[StatesyncError], parent: type[StatesyncError], exit_code: int
) -> None:
    assert issubclass(cls, parent)
    assert cls("x").exit_code == exit_code


def test_the_secret_policy_still_exports_its_error() -> None:
    from statesync.sync.secrets import policy

    assert policy.UnparseableSecretDocument is UnparseableSecretDocument


def test_releasing_an_unlocked_environment_raises_not_locked() -> None:
    repo = init_repo(MemoryBackend(uuid.uuid4().hex))
    with pytest.raises(NotLocked, match="not locked"):
        release(repo, "prod", "0" * 32)


def test_scanning_a_missing_folder_raises_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(NotAFolder, match="no such folder"):
        scan_folder(tmp_path / "absent", SecretPolicy())


def test_a_record_folder_that_is_a_link_raises_folder_record_error(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / RECORD_DIR).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FolderRecordError, match="is a link"):
        WorkRecord.load(tmp_path)
