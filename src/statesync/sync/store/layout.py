"""The one module that knows object names in the store (ARCHITECTURE.md §2).

Nothing else builds a key string: every reader and writer asks here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from statesync.errors import UsageError

DESCRIPTOR = "statesync.json"
OBJECTS = "objects/"
SNAPSHOTS = "snapshots/"
REFS = "refs/"
INDEX = "index/"
LOCKS = "locks/"
KEYS = "keys/"
POLICY = "policy/"
GC = "gc/"
#: The store-wide gc lease lives at ``locks/_gc``: no environment can be named so.
GC_LEASE = "_gc"
DAMAGED = "damaged/"

# ``\Z``, not ``$``: ``$`` also matches before a trailing newline ("prod\n").
_ENV_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
_ID_RE = re.compile(r"[0-9a-f]{64}\Z")
_STORE_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}\Z")


def validate_env(env: str) -> str:
    """Return ``env`` if it is a valid environment name; else raise :class:`UsageError`."""
    if not isinstance(env, str) or not _ENV_RE.match(env) or ".." in env:
        raise UsageError(
            f"invalid environment name {env!r}: use letters, digits, '.', '_' or '-' (max 63)"
        )
    return env


def is_object_id(value: str) -> bool:
    """True if ``value`` is a full lowercase hex SHA-256 id."""
    return bool(_ID_RE.match(value))


def is_store_id(value: str) -> bool:
    """True if ``value`` can be a store id: letters, digits, ``_``, ``-`` (at most 64).

    Store ids end up in local file names and associated data, so nothing that
    could be a path (separators, ``..``, an absolute path) is ever one.
    """
    return bool(_STORE_ID_RE.match(value))


def pack_key(pack_id: str) -> str:
    """Key of an immutable pack of chunks."""
    return f"{OBJECTS}{pack_id[:2]}/{pack_id}"


def pack_id_from_key(key: str) -> str | None:
    """Inverse of :func:`pack_key`; ``None`` for anything under ``objects/`` that is not a pack."""
    name = key.rsplit("/", 1)[-1]
    return name if is_object_id(name) and key == pack_key(name) else None


def damaged_key(key: str) -> str:
    """Where ``repair`` moves a damaged object aside (outside every prefix a reader lists)."""
    return f"{DAMAGED}{key}"


def snapshot_key(snapshot_id: str) -> str:
    """Key of an immutable snapshot manifest."""
    return f"{SNAPSHOTS}{snapshot_id}"


def snapshot_id_from_key(key: str) -> str:
    """Inverse of :func:`snapshot_key`."""
    return key[len(SNAPSHOTS) :]


def index_key(index_id: str) -> str:
    """Key of an immutable pack index (chunk id -> pack, offset, length)."""
    return f"{INDEX}{index_id}"


def index_id_from_key(key: str) -> str:
    """Inverse of :func:`index_key`."""
    return key[len(INDEX) :]


def ref_key(env: str) -> str:
    """Key of an environment's mutable ref."""
    return f"{REFS}{validate_env(env)}"


def env_from_ref_key(key: str) -> str:
    """Inverse of :func:`ref_key`."""
    return key[len(REFS) :]


def lock_key(env: str) -> str:
    """Key of an environment's lease (or, for :data:`GC_LEASE`, of the store's gc lease)."""
    return f"{LOCKS}{env if env == GC_LEASE else validate_env(env)}"


def promotion_rule_key() -> str:
    """Key of the store's promotion rule (which FROM->TO promotions are allowed)."""
    return f"{POLICY}promotion.json"


def gc_marker_key() -> str:
    """Key of the gc generation marker (generation, condemned packs, history cuts)."""
    return f"{GC}generation.json"


def retention_policy_key(env: str) -> str:
    """Key of ``env``'s stored retention policy (applied by every machine's gc)."""
    return f"{POLICY}retention/{validate_env(env)}.json"


def env_from_lock_key(key: str) -> str:
    """The environment a ``locks/<env>`` key belongs to."""
    return key[len(LOCKS) :]


_KEYRING_RE = re.compile(r"^gen-([1-9][0-9]{0,8})\.json$")


def keyring_prefix(env: str) -> str:
    """Prefix under which every key generation of ``env`` keeps its keyring."""
    return f"{KEYS}{validate_env(env)}/"


def keyring_key(env: str, generation: int) -> str:
    """Key of ``env``'s keyring (wrapped data key + recipient stanzas) for ``generation`` >= 1."""
    if generation < 1:
        raise ValueError(f"key generation must be >= 1, got {generation}")
    return f"{keyring_prefix(env)}gen-{generation}.json"


def keyring_generation_from_key(env: str, key: str) -> int | None:
    """Inverse of :func:`keyring_key`; ``None`` for anything else under the prefix."""
    match = _KEYRING_RE.match(key.removeprefix(keyring_prefix(env)))
    return int(match.group(1)) if match and key.startswith(keyring_prefix(env)) else None


def clock_probe_key(token: str) -> str:
    """Key of a short-lived object written only to read the store's clock.

    ``_clock`` cannot be an environment name (those start with a letter or
    digit), so a probe never collides with a lease.
    """
    return f"{LOCKS}_clock/{token}"


# --- LangGraph checkpoints (statesync.integrations.langgraph) -----------------
# A key space of its own, beside refs/ and snapshots/: thread and namespace ids
# are free text, so they are hashed into names (the ids themselves live inside
# the objects, sealed when the thread is encrypted); checkpoint ids are stored
# hex-encoded, which keeps their order (UTF-8 bytes sort as code points do).
LANGGRAPH = "langgraph/threads/"
_LG_NAME_RE = re.compile(r"[0-9a-f]{32}\Z")
_LG_CP_RE = re.compile(r"(?:[0-9a-f]{2}){1,200}\Z")


def langgraph_name(text: str) -> str:
    """The fixed-length name a free-text thread, namespace or task id is stored under."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def langgraph_checkpoint_name(checkpoint_id: str) -> str:
    """A checkpoint id as a name: hex of its UTF-8 (order-preserving); at most 200 bytes."""
    raw = checkpoint_id.encode("utf-8", "surrogatepass")
    if not 0 < len(raw) <= 200:
        raise UsageError("a checkpoint id must be 1 to 200 bytes of text")
    return raw.hex()


def langgraph_thread_prefix(thread: str) -> str:
    """Prefix of everything a thread (its name from :func:`langgraph_name`) holds."""
    return f"{LANGGRAPH}{thread}/"


def langgraph_head_key(thread: str) -> str:
    """Key of a thread's head: the newest checkpoint per namespace (conditional writes)."""
    return f"{langgraph_thread_prefix(thread)}head"


def langgraph_checkpoint_slot(thread: str, ns: str, checkpoint: str) -> str:
    """Where one checkpoint lives, whatever its bytes: what its seal and signature name.

    ``checkpoint`` comes from :func:`langgraph_checkpoint_name`; the object's
    key is the slot, a dot and the SHA-256 of its stored bytes
    (:func:`langgraph_checkpoint_key`), and the slot and dot are the prefix
    that lists it.
    """
    return f"{langgraph_thread_prefix(thread)}{ns}/c/{checkpoint}"


def langgraph_checkpoint_key(thread: str, ns: str, checkpoint: str, digest: str) -> str:
    """Key of one checkpoint object: content-addressed by ``digest``, the SHA-256 (hex)
    of its stored bytes, which every read checks."""
    if not is_object_id(digest):
        raise UsageError(f"not a SHA-256 digest: {digest[:80]!r}")
    return f"{langgraph_checkpoint_slot(thread, ns, checkpoint)}.{digest}"


def langgraph_writes_key(thread: str, ns: str, checkpoint: str) -> str:
    """Key of the pending writes (every task's) stored against one checkpoint."""
    return f"{langgraph_thread_prefix(thread)}{ns}/w/{checkpoint}"


@dataclass(frozen=True)
class LangGraphKey:
    """What a key under :data:`LANGGRAPH` names: ``kind`` is head, checkpoint or writes;
    ``digest`` is a checkpoint object's content address."""

    kind: str
    thread: str
    ns: str = ""
    checkpoint_id: str = ""
    digest: str = ""


def parse_langgraph_key(key: str) -> LangGraphKey | None:
    """Inverse of the ``langgraph_*_key`` functions; ``None`` for anything else."""
    parts = key.removeprefix(LANGGRAPH).split("/") if key.startswith(LANGGRAPH) else []
    if len(parts) == 2 and parts[1] == "head" and _LG_NAME_RE.match(parts[0]):
        return LangGraphKey("head", parts[0])
    if len(parts) != 4 or not all(_LG_NAME_RE.match(p) for p in parts[:2]):
        return None
    name, _, digest = parts[3].partition(".")
    if not _LG_CP_RE.match(name):
        return None
    try:
        cp_id = bytes.fromhex(name).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    if parts[2] == "c" and is_object_id(digest):
        return LangGraphKey("checkpoint", parts[0], parts[1], cp_id, digest)
    if parts[2] == "w" and not digest and "." not in parts[3]:
        return LangGraphKey("writes", parts[0], parts[1], cp_id)
    return None


TAGS = "tags/"


def tag_entry_prefix(env: str, tag_hash: str) -> str:
    """Prefix of the tag index entries of one ``key=value`` pair (hashed) in ``env``."""
    return f"{TAGS}{env}/t/{tag_hash}/"


def tag_entry_key(env: str, tag_hash: str, snapshot_id: str) -> str:
    """Empty create-only object: ``snapshot_id`` of ``env`` carries the tag ``tag_hash``."""
    return f"{tag_entry_prefix(env, tag_hash)}{snapshot_id}"


def tag_done_key(env: str, snapshot_id: str) -> str:
    """Marker: ``snapshot_id`` and all its ancestors are in ``env``'s tag index."""
    return f"{TAGS}{env}/s/{snapshot_id}"
