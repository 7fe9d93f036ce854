"""Namespace records in the metadata database (see db.py for the layout)."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, final

import lmdb

from berth.core import errors, events, namespaces
from berth.core.namespaces import NamespaceStore

from .db import SEP, MetaDB, key

__all__ = ["LmdbNamespaceStore", "validate_labels"]

MAX_LABEL_KEY = 4096
MAX_LABELS_SIZE = 4096


def validate_labels(labels: Mapping[str, str]) -> None:
    """containerd's rule: each key+value at most 4096 bytes, keys non-empty."""
    for k, v in labels.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise errors.InvalidArgument(f"label {k!r}: keys and values must be strings")
        if not k:
            raise errors.InvalidArgument("label key must not be empty")
        if len(k) + len(v) > MAX_LABELS_SIZE:
            raise errors.InvalidArgument(f"label key and value length (with key {k[:64]!r}) exceeds {MAX_LABELS_SIZE} bytes")


def _record_key(name: str) -> bytes:
    return key("ns", name)


@final
class LmdbNamespaceStore(NamespaceStore):
    def __init__(self, db: MetaDB, exchange: Any) -> None:
        self._db = db
        self._events = exchange

    def create(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        namespaces.validate(name)
        labels = dict(labels or {})
        validate_labels(labels)
        now = time.time_ns()

        def txn_fn(txn: lmdb.Transaction) -> None:
            if txn.get(_record_key(name)) is not None:
                raise errors.AlreadyExists(f'namespace "{name}": already exists')
            record = {"labels": labels, "created": now, "updated": now}
            txn.put(_record_key(name), json.dumps(record, sort_keys=True).encode())

        self._db.write(txn_fn)
        self._publish(events.NamespaceCreate(name=name, labels=labels), name)

    def ensure(self, name: str) -> None:
        """Create ``name`` if missing (objects created in a namespace imply it)."""
        try:
            self.create(name)
        except errors.AlreadyExists:
            pass

    def labels(self, name: str) -> dict[str, str]:
        raw = self._db.read(lambda txn: txn.get(_record_key(namespaces.validate(name))))
        if raw is None:
            raise errors.NotFound(f'namespace "{name}": not found')
        return dict(json.loads(raw)["labels"])

    def set_label(self, name: str, key_: str, value: str) -> None:
        namespaces.validate(name)
        validate_labels({key_: value})

        def txn_fn(txn: lmdb.Transaction) -> dict[str, str]:
            raw = txn.get(_record_key(name))
            if raw is None:
                raise errors.NotFound(f'namespace "{name}": not found')
            record = json.loads(raw)
            if value:
                record["labels"][key_] = value
            else:
                record["labels"].pop(key_, None)
            record["updated"] = time.time_ns()
            txn.put(_record_key(name), json.dumps(record, sort_keys=True).encode())
            return dict(record["labels"])

        labels = self._db.write(txn_fn)
        self._publish(events.NamespaceUpdate(name=name, labels=labels), name)

    def list(self) -> list[str]:
        prefix = key("ns", "")

        def txn_fn(txn: lmdb.Transaction) -> list[str]:
            return [k[len(prefix):].decode() for k, _ in MetaDB.scan(txn, prefix)]

        return sorted(self._db.read(txn_fn))

    def delete(self, name: str) -> None:
        namespaces.validate(name)

        def txn_fn(txn: lmdb.Transaction) -> None:
            if txn.get(_record_key(name)) is None:
                raise errors.NotFound(f'namespace "{name}": not found')
            kinds = sorted({k.split(SEP)[2].decode() for k, _ in MetaDB.scan(txn, key("v1", name, ""))})
            if kinds:
                raise errors.FailedPrecondition(
                    f'namespace "{name}" must be empty, but it still has {", ".join(kinds)}; remove them first'
                )
            txn.delete(_record_key(name))

        self._db.write(txn_fn)
        self._publish(events.NamespaceDelete(name=name), name)

    def _publish(self, event: Any, name: str) -> None:
        if self._events is not None:
            self._events.publish(event, namespace=name)
