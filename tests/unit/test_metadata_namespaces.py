"""Namespace records in the LMDB metadata database (berth.plugins.metadata).

A real LMDB environment in a temp dir; events go to a real exchange and are
read back by a subscriber under trio.
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import lmdb
import pytest
import trio

from berth.core import errors, events
from berth.core._exchange import Exchange
from berth.core.events import Envelope
from berth.plugins.metadata.db import MetaDB, key
from berth.plugins.metadata.namespaces import LmdbNamespaceStore

MAP_SIZE = 4 * 1024 * 1024


@pytest.fixture
def db(tmp_path: pathlib.Path) -> Iterator[MetaDB]:
    database = MetaDB(tmp_path / "meta.lmdb", map_size=MAP_SIZE)
    yield database
    database.close()


@pytest.fixture
def store(db: MetaDB) -> LmdbNamespaceStore:
    return LmdbNamespaceStore(db, None)


def put_object(db: MetaDB, *parts: str) -> None:
    """An object of a namespace, written as its plugin would (``v1␀<ns>␀<kind>␀...``)."""
    db.write(lambda txn: txn.put(key("v1", *parts), b"{}"))


def test_create_list_labels(store: LmdbNamespaceStore) -> None:
    store.create("team-b")
    store.create("team-a", {"owner": "core", "tier": "1"})
    assert store.list() == ["team-a", "team-b"]
    assert store.labels("team-a") == {"owner": "core", "tier": "1"}
    assert store.labels("team-b") == {}


def test_create_twice_is_already_exists(store: LmdbNamespaceStore) -> None:
    store.create("dup", {"a": "1"})
    with pytest.raises(errors.AlreadyExists) as info:
        store.create("dup")
    assert str(info.value) == 'namespace "dup": already exists'
    assert store.labels("dup") == {"a": "1"}  # untouched
    store.ensure("dup")
    store.ensure("fresh")
    assert store.list() == ["dup", "fresh"]


def test_invalid_names_and_labels(store: LmdbNamespaceStore) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        store.create("Bad_NS!")
    assert str(info.value).startswith('namespace "Bad_NS!": identifier must match ')
    with pytest.raises(errors.InvalidArgument) as info:
        store.create("ok", {"": "x"})
    assert str(info.value) == "label key must not be empty"
    with pytest.raises(errors.InvalidArgument) as info:
        store.create("ok", {"k": "v" * 4096})
    assert str(info.value) == "label key and value length (with key 'k') exceeds 4096 bytes"
    assert store.list() == []


def test_set_label_adds_replaces_and_removes(store: LmdbNamespaceStore) -> None:
    store.create("ns", {"a": "1", "b": "2"})
    store.set_label("ns", "c", "3")
    store.set_label("ns", "a", "10")
    store.set_label("ns", "b", "")
    store.set_label("ns", "never-set", "")
    assert store.labels("ns") == {"a": "10", "c": "3"}


def test_missing_namespace_is_not_found(store: LmdbNamespaceStore) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.labels("ghost"),
        lambda: store.set_label("ghost", "a", "b"),
        lambda: store.delete("ghost"),
    ]
    for call in calls:
        with pytest.raises(errors.NotFound) as info:
            call()
        assert str(info.value) == 'namespace "ghost": not found'


def test_delete_refuses_a_namespace_that_still_has_objects(db: MetaDB, store: LmdbNamespaceStore) -> None:
    store.create("ns")
    store.create("ns2")
    put_object(db, "ns", "images", "x")
    put_object(db, "ns", "containers", "c1")
    put_object(db, "ns2", "leases", "l")  # another namespace whose name starts the same
    with pytest.raises(errors.FailedPrecondition) as info:
        store.delete("ns")
    assert str(info.value) == 'namespace "ns" must be empty, but it still has containers, images; remove them first'
    assert store.list() == ["ns", "ns2"]

    def remove_objects(txn: lmdb.Transaction) -> None:
        txn.delete(key("v1", "ns", "images", "x"))
        txn.delete(key("v1", "ns", "containers", "c1"))

    db.write(remove_objects)
    store.delete("ns")
    assert store.list() == ["ns2"]


def test_records_survive_reopening(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "meta.lmdb"
    first = MetaDB(path, map_size=MAP_SIZE)
    LmdbNamespaceStore(first, None).create("kept", {"k": "v"})
    first.close()
    second = MetaDB(path, map_size=MAP_SIZE)
    try:
        assert LmdbNamespaceStore(second, None).labels("kept") == {"k": "v"}
    finally:
        second.close()


def test_a_database_of_another_schema_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "meta.lmdb"
    env = lmdb.open(str(path), map_size=MAP_SIZE, subdir=True)
    with env.begin(write=True) as txn:
        txn.put(b"schema", b"9")
    env.close()
    with pytest.raises(errors.FailedPrecondition) as info:
        MetaDB(path, map_size=MAP_SIZE)
    assert str(info.value) == f"metadata database {path}: schema '9' is not '1'; this berth cannot read it"


def test_a_full_database_is_resource_exhausted(tmp_path: pathlib.Path) -> None:
    database = MetaDB(tmp_path / "meta.lmdb", map_size=1024 * 1024)
    store = LmdbNamespaceStore(database, None)
    try:
        with pytest.raises(errors.ResourceExhausted) as info:
            for i in range(100):
                store.create(f"big-{i}", {f"label-{n}": "x" * 4000 for n in range(64)})
        assert str(info.value) == (f"metadata database {tmp_path / 'meta.lmdb'} is full; raise map_size in "
                                   '[plugins."io.containerd.metadata.v1.lmdb"]')
        assert isinstance(info.value.__cause__, lmdb.MapFullError)
        created = store.list()
        assert 0 < len(created) < 100  # what was acknowledged is there, the failed one is not
        store.delete(created[0])  # the store still works
    finally:
        database.close()


def test_changes_publish_events(db: MetaDB) -> None:
    seen: list[Envelope] = []

    async def main() -> None:
        exchange = Exchange()
        store = LmdbNamespaceStore(db, exchange)
        async with exchange.subscribe('topic~="^/namespaces/"') as sub:
            store.create("ev", {"a": "1"})
            store.set_label("ev", "b", "2")
            store.set_label("ev", "a", "")
            with pytest.raises(errors.AlreadyExists):
                store.create("ev")  # a failed change publishes nothing
            store.delete("ev")
            for _ in range(4):
                item = await sub.__anext__()
                assert isinstance(item, Envelope)
                seen.append(item)
            assert exchange.statistics().published == 4

    trio.run(main)
    assert [(e.topic, e.namespace, e.event) for e in seen] == [
        ("/namespaces/create", "ev", events.NamespaceCreate(name="ev", labels={"a": "1"})),
        ("/namespaces/update", "ev", events.NamespaceUpdate(name="ev", labels={"a": "1", "b": "2"})),
        ("/namespaces/update", "ev", events.NamespaceUpdate(name="ev", labels={"b": "2"})),
        ("/namespaces/delete", "ev", events.NamespaceDelete(name="ev")),
    ]
    assert [e.seq for e in seen] == [1, 2, 3, 4]


def test_keys_refuse_nul() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        key("v1", "a\x00b")
    assert str(info.value) == "name 'a\\x00b' must not contain a NUL byte"
