"""Cat: one file of a snapshot, verified, as pull would write it.

Plain files are streamed chunk by chunk (memory bounded by one chunk; every
chunk is checked against its id before it is yielded, the whole file against
its digest at the end). Documents with secret values and sealed secret
files are read whole, opened, and only then yielded, so a missing key
fails before any byte is shown.
"""

from __future__ import annotations

from collections.abc import Iterator

from statesync.errors import UsageError, ViewNotFound
from statesync.sync.folder.unseal import Unsealer
from statesync.sync.secrets import policy as secrets
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.content import iter_entry, read_entry
from statesync.sync.store.manifest import Entry, Manifest, load_manifest
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import file_generation


def cat(
    repo: Repo,
    snapshot: str,
    path: str,
    *,
    policy: secrets.SecretPolicy,
    skip_secrets: bool = False,
) -> Iterator[bytes]:
    """The bytes of ``path`` in ``snapshot`` (a full id), checked as they are read.

    Secret values are shown as a pull into an empty folder would write them:
    sealed ones opened with the environment's key (:class:`KeyFailure`
    without one, unless ``skip_secrets``: then the marker), those never
    stored as the marker. Raises, before yielding anything,
    :class:`ViewNotFound` for a path the snapshot lacks (a folder, or a
    secret file it names but does not carry), :class:`UsageError` for a link;
    :class:`IntegrityError` for damaged content, also mid-stream.
    """
    manifest = load_manifest(repo, snapshot)
    entry = _entry(manifest, path.strip("/"), snapshot[:12])
    unsealer = Unsealer(repo, manifest, skip_secrets, policy)
    index = load_index(repo)
    if entry.kind == "secret-file":
        if skip_secrets:
            raise ViewNotFound(f"{entry.path!r} is a sealed secret file (not shown with skip)")
        blob = read_entry(repo, index, entry)
        return iter([unsealer.keys(file_generation(blob)).open_file(entry.path, blob)])
    if entry.secret_pointers:
        data = read_entry(repo, index, entry)
        opened = unsealer.unseal(entry, data, None)
        return iter([opened if opened is not None else data])
    return iter_entry(repo, index, entry)


def _entry(manifest: Manifest, path: str, short: str) -> Entry:
    """``path``'s entry; the errors say why there is none."""
    entry = manifest.by_path().get(path)
    if entry is not None and entry.kind == "symlink":
        raise UsageError(f"{path!r} is a link to {entry.target!r} in snapshot {short}, not a file")
    if entry is not None:
        return entry
    if path in manifest.secret_files:
        raise ViewNotFound(
            f"{path!r} is a secret file that snapshot {short} names but does not carry "
            "(it was pushed without --include-secrets)"
        )
    if any(e.path.startswith(path + "/") for e in manifest.entries):
        raise ViewNotFound(f"{path!r} is a folder in snapshot {short}; name a file in it")
    raise ViewNotFound(f"{path!r}: no such file in snapshot {short}")
