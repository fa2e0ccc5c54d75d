"""Compact ``.tar.zst`` bundles: a zstd-compressed tar stream, written and read in one pass.

Members, in order: ``statesync-bundle.json`` (the bundle document without
contents), then ``files/<path>`` for every component whose bytes the bundle
carries, in component order. Memory stays bounded by one chunk either way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from statesync.errors import BundleError, UsageError
from statesync.sync.bundle import schema
from statesync.sync.bundle.io import EntryReader, ZstdReader

_LEVEL = 3
_MAX_HEADER = 256 * 1024 * 1024
_COPY = 1 << 20

#: A file to write: its tar member name, its size and its verified content chunks.
Member = tuple[str, int, Iterator[bytes]]


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = mtime
    return info


def write_tar(fh: BinaryIO, header: dict[str, Any], members: Iterable[Member]) -> None:
    """Write the header member then each member, streaming through zstd.

    Each member's chunk iterator is run to its end, so a verifying iterator
    raises :class:`IntegrityError` before a damaged file is finished.
    """
    mtime = int(time.time())
    head = json.dumps(header, indent=2, ensure_ascii=False).encode() + b"\n"
    cctx = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)
    with (
        cctx.stream_writer(fh, closefd=False) as zw,
        tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(_info(schema.HEADER_MEMBER, len(head), mtime), io.BytesIO(head))
        for name, size, chunks in members:
            reader = EntryReader(chunks)
            tar.addfile(_info(name, size, mtime), reader)
            reader.drain()


def read_tar(path: Path, tmp: Path) -> schema.Bundle:
    """Validate a ``.tar.zst`` bundle completely, extracting its files into ``tmp``.

    ``tmp`` must be a private, empty folder (the caller removes it). Files are
    stored under generated names, never under the bundle's paths. Raises
    :class:`BundleError` for anything truncated, corrupt, unexpected or unsafe.
    """
    where = path.name
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise UsageError(f"{path}: no such bundle file") from None
    except OSError as exc:
        raise BundleError(f"{where}: cannot read: {exc.strerror}") from None
    with raw, ZstdReader(raw, where) as zr:
        try:
            return _read_stream(zr, tmp, where)
        except (tarfile.TarError, EOFError) as exc:
            raise BundleError(f"{where}: truncated or corrupt tar stream ({exc})") from None


def _read_stream(zr: ZstdReader, tmp: Path, where: str) -> schema.Bundle:
    with tarfile.open(fileobj=zr, mode="r|") as tar:
        bundle = _read_header(tar, where)
        wanted = {schema.FILES_PREFIX + c.path: c for c in bundle.components if c.has_content}
        count = 0
        while (member := tar.next()) is not None:
            comp = wanted.pop(member.name, None)
            if comp is None:
                raise BundleError(f"{where}: unexpected or repeated member {member.name!r}")
            if not member.isreg():
                raise BundleError(f"{where}: member {member.name!r} is not a regular file")
            count += 1
            comp.file = _extract(tar, member, comp, tmp / f"f{count}", where)
        if wanted:
            raise BundleError(
                f"{where}: truncated: {len(wanted)} file(s) missing, first {next(iter(wanted))!r}"
            )
    _drain(zr, where)
    return bundle


def _read_header(tar: tarfile.TarFile, where: str) -> schema.Bundle:
    first = tar.next()
    if first is None or first.name != schema.HEADER_MEMBER or not first.isreg():
        raise BundleError(f"{where}: not a statesync bundle (no {schema.HEADER_MEMBER} first)")
    if first.size > _MAX_HEADER:
        raise BundleError(f"{where}: {schema.HEADER_MEMBER} is implausibly large")
    fobj = tar.extractfile(first)
    assert fobj is not None
    body = fobj.read()
    if len(body) != first.size:
        raise BundleError(f"{where}: truncated {schema.HEADER_MEMBER}")
    try:
        doc = json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise BundleError(f"{where}: {schema.HEADER_MEMBER}: {exc}") from None
    except (ValueError, RecursionError):
        raise BundleError(f"{where}: {schema.HEADER_MEMBER} is not valid JSON") from None
    return schema.parse_bundle(doc, where, inline=False)


class _DuplicateKey(ValueError):
    """A JSON object in the header names one key twice (refused, as in a .json bundle)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey("duplicate key in an object")
    return out


def _extract(
    tar: tarfile.TarFile, member: tarfile.TarInfo, comp: schema.Component, dest: Path, where: str
) -> Path:
    at = f"{where}: {comp.path!r}"
    if member.size != comp.size:
        raise BundleError(f"{at}: member is {member.size} bytes but the bundle says {comp.size}")
    src = tar.extractfile(member)
    assert src is not None
    digest = hashlib.sha256()
    size = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while block := src.read(_COPY):
            digest.update(block)
            size += len(block)
            out.write(block)
    schema.verify_bytes(comp, size, digest.hexdigest(), at)
    return dest


def _drain(zr: ZstdReader, where: str) -> None:
    """Read what follows the tar's end (its zero padding) up to the zstd frame's end."""
    while block := zr.read(_COPY):
        if any(block):
            raise BundleError(f"{where}: unexpected data after the end of the tar stream")
