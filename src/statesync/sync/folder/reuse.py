"""What earlier work a push may reuse: the folder's cached entries, or the head itself.

A cached entry (the folder's stat cache, see :mod:`statesync.sync.folder.workdir`)
records how a file was stored by the push or pull that wrote the record. It
may stand in for the file only if that is how this push stores it: the same
sealing mode (secrets included, everything encrypted) and, for an entry that
holds sealed secrets, the same key generation. So turning encryption on
re-seals everything the new head references, and every sealed secret of a
head is sealed with the head's own generation, the one pull and status use
to compare local files with the head.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from statesync.sync.folder.stored import StoredForm
from statesync.sync.folder.workdir import EnvRecord, LocalFile
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.encryption import Encryption
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.repo import Repo


def recorded_sealing(rec: EnvRecord) -> Encryption:
    """How a record's cache was sealed (records before ``sealing``: secrets only)."""
    if rec.sealing.encrypted:
        return rec.sealing
    return Encryption(secrets=rec.secrets_included)


def holds_sealed_secrets(entry: Entry, mode: Encryption) -> bool:
    """True if ``entry``'s stored bytes carry secrets sealed with a key generation."""
    return mode.secrets and (entry.kind == "secret-file" or bool(entry.secret_pointers))


def cached_entry(rec: EnvRecord | None, f: LocalFile, mode: Encryption) -> Entry | None:
    """The record's entry for ``f`` if it is unchanged *and* stored as ``mode`` stores it."""
    if rec is None:
        return None
    recorded = recorded_sealing(rec)
    if not recorded.same_kind(mode):
        return None
    entry = rec.cached_entry(f)
    if entry is None or (
        holds_sealed_secrets(entry, mode) and recorded.generation != mode.generation
    ):
        return None
    return entry


def pushed_mode(f: LocalFile, entry: Entry) -> int:
    """The mode a push would record for ``f`` where ``entry`` holds the same bytes."""
    if f.is_link:
        return entry.mode
    local = f.st.st_mode & 0o777
    if entry.kind == "secret-file":
        return local & 0o600
    if entry.secret_pointers and local == entry.mode & 0o600:
        return entry.mode  # pull narrowed it to 0600; that is not a change
    return local


def same_as_head(
    files: dict[str, LocalFile],
    rec: EnvRecord | None,
    head_id: str,
    head: Manifest,
    form: StoredForm,
) -> bool:
    """True if ``files`` are exactly ``head``'s entries, compared in the head's stored form.

    ``form`` must seal as the head does (its generation), so an unchanged
    folder is recognised after a rotation, and right after a pull too (when
    the stat cache does not yet trust the freshly written files).
    """
    wanted = head.by_path()
    if set(files) != set(wanted):
        return False
    synced = rec if rec is not None and rec.snapshot == head_id else None
    digests = {
        p: e.digest
        for p, f in files.items()
        if synced and (e := synced.cached_entry(f)) is not None
    }
    # Cheap verdicts first (cached digests, sizes), so a changed folder is rarely read twice.
    if any(
        pushed_mode(f, wanted[p]) != wanted[p].mode
        or _resized(f, wanted[p])
        or digests.get(p, wanted[p].digest) != wanted[p].digest
        for p, f in files.items()
    ):
        return False
    return all(form.digest(f) == wanted[p].digest for p, f in files.items() if p not in digests)


def _resized(f: LocalFile, entry: Entry) -> bool:
    """True if ``f`` cannot hold ``entry``'s bytes: a file stored as it is, of another size."""
    stored_as_is = entry.kind in ("document", "binary") and not entry.secret_pointers
    return stored_as_is and not f.is_link and f.st.st_size != entry.size


def recorded_chunk_ids(rec: EnvRecord, files: Iterable[str]) -> Iterator[str | None]:
    """The chunk ids the record holds for each of ``files``; None for a file it does not hold.

    Read from the rows as stored (no :class:`Entry` is built): what a push of an
    unchanged folder of thousands of files asks :func:`all_stored` about.
    """
    for path in files:
        row = rec.files.get(path)
        if row is None:
            yield None
            continue
        for chunk in row.entry_json["chunks"]:
            yield str(chunk[0])


def chunks_stored(
    repo: Repo, chunk_ids: Iterable[str | None], sealed_for: str | None = None
) -> bool:
    """:func:`all_stored` of chunk ids (None: a chunk not known, so not stored)."""
    index = load_index(repo)
    if sealed_for is not None and any(env == sealed_for for _, env in index.unreadable):
        return True
    return all(cid is not None and cid in index for cid in chunk_ids)


def all_stored(repo: Repo, entries: Iterable[Entry | None], sealed_for: str | None = None) -> bool:
    """True if every chunk of ``entries`` is in the store now (its pack listed, indexed).

    An unchanged folder's push asks this before it answers "no changes": a
    head whose chunks were lost (a deleted pack, one that ``repair`` moved
    aside) must be healed by uploading them again, not hidden. Costs one
    ``list`` of ``index/`` and of ``objects/`` (index bodies come from the cache).
    A missing entry (None) counts as not stored. ``sealed_for``: the entries'
    chunks are sealed for this environment (``--encrypt all``); if its sealed
    indexes cannot be read here (no key), there is nothing to judge by and
    the answer is True, as before this check existed.
    """
    return chunks_stored(repo, _chunk_ids(entries), sealed_for)


def _chunk_ids(entries: Iterable[Entry | None]) -> Iterator[str | None]:
    for e in entries:
        if e is None:
            yield None
        else:
            yield from (cid for cid, _ in e.chunks)
