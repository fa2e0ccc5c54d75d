"""Recording a folder after a sync: the one place push, rebase and pull write the record.

After a push, a rebase or a pull the folder's record (``.statesync/state.json``)
names the snapshot and serial the folder now holds, with a stat cache of its
files; the user's highest serial seen is raised with it, and after pulling a
head the environment's encryption is remembered for this machine (so the
store cannot downgrade it later, see :mod:`statesync.sync.store.sticky`).
"""

from __future__ import annotations

from collections.abc import Mapping

from statesync.sync.folder.workdir import EnvRecord, LocalFile, WorkRecord, file_row, now_ns
from statesync.sync.store import seen as seen_serials
from statesync.sync.store import sticky
from statesync.sync.store.encryption import Encryption
from statesync.sync.store.manifest import Entry


def remember_sync(
    record: WorkRecord,
    store_id: str,
    env: str,
    *,
    snapshot: str,
    serial: int,
    files: Mapping[str, LocalFile],
    entries: Mapping[str, Entry],
    encryption: Encryption,
    secrets_included: bool,
    remember_encryption: bool = False,
) -> None:
    """Record that the folder holds ``snapshot`` (at ``serial``) of ``env`` and save the record.

    ``files``: the folder's files as they now are; each one that ``entries``
    (path -> entry of the snapshot) names gets a stat-cache row. ``encryption``:
    the snapshot's encryption field, kept so later pushes know how it was sealed.
    ``remember_encryption``: also raise this machine's sticky memory of the
    environment's encryption (a pulled head). Raises :class:`StatesyncError`
    if ``.statesync`` is a link, ``OSError`` if the record cannot be written.
    """
    rows = {p: file_row(f, entries[p]) for p, f in files.items() if p in entries}
    record.set(
        store_id, env, EnvRecord(snapshot, serial, rows, now_ns(), secrets_included, encryption)
    )
    seen_serials.remember(store_id, env, serial)
    if remember_encryption:
        sticky.remember(store_id, env, encryption)
    record.save()
