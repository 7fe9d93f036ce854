"""The LMDB environment behind berth's metadata, and its key layout.

One environment at ``<root>/io.containerd.metadata.v1.lmdb/meta.lmdb`` holds
everything, partitioned by namespace like containerd's bolt buckets. Keys are
components joined by NUL (names may contain ``/``; none may contain NUL)::

    meta.lmdb (main database)
    ├── schema                          -> b"1"
    ├── ns␀<namespace>                  -> JSON {"labels": {...}, "created": ns, "updated": ns}
    └── v1␀<namespace>␀<kind>␀...       objects of a namespace, by kind
        ├── images␀<name>               (images issue)
        ├── containers␀<id>             (containers issue)
        ├── content␀blob␀<digest>       (content issue)
        ├── snapshots␀<snapshotter>␀<key>  (snapshots issue)
        └── leases␀<id>                 (leases issue)

A namespace is empty when no key starts with ``v1␀<namespace>␀``.

Transactions are plain ``def`` functions run whole: never ``await`` inside
one (LMDB ties a write transaction to its thread; see STYLE.md). The
environment is opened with ``sync=True`` and ``metasync=True``, so a write
acknowledged to a client survives kill -9 and power loss.
"""
from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterator
from typing import TypeVar, final

import lmdb

from berth.core import errors

__all__ = ["MetaDB", "key", "SEP"]

SEP = b"\x00"
SCHEMA = b"1"
T = TypeVar("T")


def key(*parts: str) -> bytes:
    """Encode key components; a component containing NUL is refused."""
    encoded = []
    for part in parts:
        if "\x00" in part:
            raise errors.InvalidArgument(f"name {part!r} must not contain a NUL byte")
        encoded.append(part.encode())
    return SEP.join(encoded)


@final
class MetaDB:
    """The opened environment with transaction helpers."""

    def __init__(self, path: pathlib.Path, *, map_size: int) -> None:
        os.makedirs(path, mode=0o700, exist_ok=True)
        try:
            self.env = lmdb.open(
                str(path),
                map_size=map_size,
                subdir=True,
                sync=True,
                metasync=True,
                max_dbs=8,
                lock=True,
            )
        except lmdb.Error as e:
            raise errors.Unavailable(f"metadata database {path}: cannot open: {e}") from e
        self.path = path
        self._check_schema()

    def _check_schema(self) -> None:
        with self.env.begin(write=True) as txn:
            found = txn.get(b"schema")
            if found is None:
                txn.put(b"schema", SCHEMA)
            elif found != SCHEMA:
                raise errors.FailedPrecondition(
                    f"metadata database {self.path}: schema {found.decode()!r} is not {SCHEMA.decode()!r}; "
                    "this berth cannot read it"
                )

    def read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        with self.env.begin(write=False) as txn:
            return fn(txn)

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction; it commits when ``fn`` returns."""
        try:
            with self.env.begin(write=True) as txn:
                return fn(txn)
        except lmdb.MapFullError as e:
            raise errors.ResourceExhausted(
                f"metadata database {self.path} is full; raise map_size in "
                '[plugins."io.containerd.metadata.v1.lmdb"]'
            ) from e

    @staticmethod
    def scan(txn: lmdb.Transaction, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Key/value pairs whose key starts with ``prefix``, in key order."""
        cursor = txn.cursor()
        if not cursor.set_range(prefix):
            return
        for k, v in cursor:
            if not k.startswith(prefix):
                return
            yield k, v

    def close(self) -> None:
        self.env.close()
