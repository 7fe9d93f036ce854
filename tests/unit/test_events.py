"""berth.core.events (event types) and berth.core._exchange (the trio exchange)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator

import pytest
import trio
import trio.testing

from berth.core import namespaces
from berth.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from berth.core.events import (
    EVENT_TYPES,
    ContainerCreate,
    ContainerRuntime,
    Envelope,
    Event,
    Exchange,
    ImageCreate,
    Missed,
    Mount,
    NamespaceCreate,
    RawEvent,
    Subscription,
    TaskCreate,
    TaskExit,
    TaskIO,
    TaskOOM,
    TaskStart,
    event_type,
    validate_topic,
)

Item = Envelope | Missed


def run(fn: Callable[[], Awaitable[object]]) -> None:
    """Run an async test body under trio (pytest-trio is not installed)."""
    trio.run(fn)


def fake_clock() -> Callable[[], int]:
    ticks: Iterator[int] = iter(range(1_000, 10**12, 1_000))
    return lambda: next(ticks)


async def take(sub: Subscription, n: int) -> list[Item]:
    return [await sub.__anext__() for _ in range(n)]


def seqs(items: list[Item]) -> list[int | str]:
    return [f"missed {i.count}" if isinstance(i, Missed) else i.seq for i in items]


async def assert_empty(sub: Subscription) -> None:
    with trio.move_on_after(0.01):
        item = await sub.__anext__()
        raise AssertionError(f"unexpected {item}")


# --- event types ---------------------------------------------------------------


def test_events_module_does_not_import_trio() -> None:
    code = textwrap.dedent(
        """
        import sys
        import berth.core.events
        from berth.core.events import *
        assert "trio" not in sys.modules, "berth.core.events imported trio"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        ("/tasks/create", "TaskCreate"),
        ("/tasks/start", "TaskStart"),
        ("/tasks/exit", "TaskExit"),
        ("/tasks/delete", "TaskDelete"),
        ("/tasks/oom", "TaskOOM"),
        ("/tasks/paused", "TaskPaused"),
        ("/tasks/resumed", "TaskResumed"),
        ("/tasks/exec-added", "TaskExecAdded"),
        ("/tasks/exec-started", "TaskExecStarted"),
        ("/tasks/checkpointed", "TaskCheckpointed"),
        ("/containers/create", "ContainerCreate"),
        ("/containers/update", "ContainerUpdate"),
        ("/containers/delete", "ContainerDelete"),
        ("/images/create", "ImageCreate"),
        ("/images/update", "ImageUpdate"),
        ("/images/delete", "ImageDelete"),
        ("/content/delete", "ContentDelete"),
        ("/snapshot/prepare", "SnapshotPrepare"),
        ("/snapshot/commit", "SnapshotCommit"),
        ("/snapshot/remove", "SnapshotRemove"),
        ("/namespaces/create", "NamespaceCreate"),
        ("/namespaces/update", "NamespaceUpdate"),
        ("/namespaces/delete", "NamespaceDelete"),
    ],
)
def test_class_names_follow_topics(topic: str, name: str) -> None:
    cls = EVENT_TYPES[topic]
    assert cls.__name__ == name and cls.topic == topic
    package = "containerd.services.images.v1." if topic.startswith("/images/") else "containerd.events."
    assert cls.type_url == package + name
    assert event_type(topic) is cls and event_type(cls.type_url) is cls


def test_every_event_type_is_listed() -> None:
    assert len(EVENT_TYPES) == 23
    assert event_type("/nope") is None


def test_events_are_frozen_and_checked() -> None:
    exit_ = TaskExit(container_id="c1", id="c1", pid=42, exit_status=137, exited_at=5)
    with pytest.raises(AttributeError):
        exit_.pid = 1  # type: ignore[misc]
    with pytest.raises(InvalidArgument) as info:
        TaskExit(pid="42")  # type: ignore[arg-type]
    assert str(info.value) == "TaskExit: 'pid' must be int (got '42' that is a str)"
    with pytest.raises(InvalidArgument, match="'pid' must be int"):
        TaskStart(pid=True)
    with pytest.raises(InvalidArgument, match="'labels' must be Mapping"):
        NamespaceCreate(name="x", labels={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        TaskExit("c1")  # type: ignore[call-arg]  # keyword-only


def test_maps_are_frozen_and_sequences_are_tuples() -> None:
    labels = {"a": "b"}
    event = ImageCreate(name="docker.io/library/alpine:3", labels=labels)
    labels["a"] = "changed"
    assert event.labels == {"a": "b"}
    with pytest.raises(TypeError):
        event.labels["a"] = "c"  # type: ignore[index]
    mount = Mount(type="overlay", options=["ro"])  # type: ignore[arg-type]  # lists become tuples
    create = TaskCreate(container_id="c", rootfs=[mount], io=TaskIO(stdin="/x"))  # type: ignore[arg-type]
    assert create.rootfs == (Mount(type="overlay", options=("ro",)),)


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "topic: must not be empty"),
        ("tasks/exit", "topic 'tasks/exit': must start with '/'"),
        ("/", "topic '/': must have at least one component"),
        ("/tasks//exit", "topic '/tasks//exit': component '' must match"),
        ("/tasks/exit/", "topic '/tasks/exit/': component '' must match"),
        ("/tasks/-exit", "topic '/tasks/-exit': component '-exit' must match"),
        ("/tasks/a..b", "topic '/tasks/a..b': component 'a..b' must match"),
    ],
)
def test_topic_validation(topic: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_topic(topic)
    assert str(info.value).startswith(message)


def test_valid_topics() -> None:
    for topic in ("/tasks/exec-added", "/a", "/io.example/thing_1/x"):
        assert validate_topic(topic) == topic


def test_custom_event_class_topic_checked_at_definition() -> None:
    import dataclasses

    with pytest.raises(InvalidArgument, match="must start with '/'"):

        @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
        class Bad(Event):
            topic = "bad"
            type_url = "example.Bad"


def test_envelope_checks() -> None:
    ok = Envelope(seq=1, timestamp=1, namespace="default", topic="/tasks/oom", event=TaskOOM(container_id="c"))
    assert ok.event == TaskOOM(container_id="c")
    with pytest.raises(InvalidArgument, match="does not match TaskOOM"):
        Envelope(seq=1, timestamp=1, namespace="default", topic="/tasks/exit", event=TaskOOM())
    with pytest.raises(InvalidArgument, match="namespace"):
        Envelope(seq=1, timestamp=1, namespace="Bad ns", topic="/tasks/oom", event=TaskOOM())
    event = RawEvent(type_url="x.Y", value=b"\x08\x01")
    raw = Envelope(seq=1, timestamp=1, namespace="default", topic="/x/y", event=event)
    assert raw.topic == "/x/y"


# --- the exchange --------------------------------------------------------------


def test_publish_stamps_and_orders() -> None:
    async def main() -> None:
        ex = Exchange(clock=fake_clock())
        async with ex.subscribe() as a, ex.subscribe() as b:
            with namespaces.use("k8s.io"):
                e1 = ex.publish(TaskStart(container_id="c", pid=1))
            e2 = ex.publish(TaskExit(container_id="c", pid=1), namespace="default")
            assert (e1.seq, e1.timestamp, e1.namespace, e1.topic) == (1, 1000, "k8s.io", "/tasks/start")
            assert (e2.seq, e2.timestamp, e2.namespace, e2.topic) == (2, 2000, "default", "/tasks/exit")
            assert await take(a, 2) == [e1, e2]
            assert await take(b, 2) == [e1, e2]

    run(main)


def test_publish_needs_a_namespace() -> None:
    ex = Exchange()
    with namespaces.use_unset(), pytest.raises(FailedPrecondition):
        ex.publish(TaskOOM())
    with pytest.raises(InvalidArgument):
        ex.publish(TaskOOM(), namespace="not valid")
    assert ex.statistics().last_seq == 0  # a rejected event takes no sequence number


def test_publish_raw_event_and_topic_checks() -> None:
    ex = Exchange()
    raw = RawEvent(type_url="example.Thing", value=b"x")
    with pytest.raises(InvalidArgument, match="a topic is required"):
        ex.publish(raw, namespace="default")
    assert ex.publish(raw, namespace="default", topic="/example/thing").event is raw
    with pytest.raises(InvalidArgument, match="does not match TaskOOM"):
        ex.publish(TaskOOM(), namespace="default", topic="/tasks/exit")
    with pytest.raises(InvalidArgument, match="not an Event"):
        ex.publish("hello", namespace="default")  # type: ignore[arg-type]


def test_forward_keeps_stamp_and_takes_new_seq() -> None:
    async def main() -> None:
        ex = Exchange(clock=fake_clock())
        async with ex.subscribe() as sub:
            ex.publish(TaskOOM(), namespace="default")
            env = ex.forward(namespace="shim-ns", topic="/tasks/exit", timestamp=123, event=TaskExit(pid=7))
            assert (env.seq, env.timestamp, env.namespace, env.topic) == (2, 123, "shim-ns", "/tasks/exit")
            raw = ex.forward(namespace="default", topic="/tasks/exit", timestamp=9,
                             event=RawEvent(type_url="containerd.events.TaskExit", value=b""))
            assert seqs(await take(sub, 3)) == [1, 2, 3]
            assert raw.seq == 3
        with pytest.raises(InvalidArgument) as info:
            ex.forward(namespace="default", topic="/tasks/exit", timestamp=0, event=TaskExit())
        assert str(info.value) == "timestamp must be set on forwarded event"
        with pytest.raises(InvalidArgument, match="must start with '/'"):
            ex.forward(namespace="default", topic="tasks", timestamp=1, event=RawEvent(type_url="x"))
        with pytest.raises(InvalidArgument, match="namespace"):
            ex.forward(namespace="", topic="/tasks/exit", timestamp=1, event=TaskExit())

    run(main)


def test_filters_on_topic_namespace_and_event_fields() -> None:
    async def main() -> None:
        ex = Exchange()
        subs = {
            "topic": ex.subscribe('topic=="/tasks/exit"'),
            "prefix": ex.subscribe('topic~="^/tasks/"'),
            "namespace": ex.subscribe("namespace==k8s.io"),
            "or": ex.subscribe("namespace==k8s.io", 'topic=="/namespaces/create"'),
            "and": ex.subscribe('topic=="/tasks/exit",event.exit_status!=0'),
            "label": ex.subscribe('event.labels."io.example/team"==web'),
            "nested": ex.subscribe("event.runtime.name==io.containerd.runc.v2"),
            "bool": ex.subscribe("event.io.terminal==true"),
            "pid": ex.subscribe("event.pid==42"),
        }
        events: list[tuple[Event | RawEvent, str]] = [
            (TaskExit(container_id="a", pid=42, exit_status=0), "default"),          # 1
            (TaskExit(container_id="b", pid=43, exit_status=1), "k8s.io"),           # 2
            (NamespaceCreate(name="n", labels={"io.example/team": "web"}), "n"),     # 3
            (ContainerCreate(id="c", runtime=ContainerRuntime(name="io.containerd.runc.v2")), "default"),  # 4
            (TaskCreate(container_id="d", io=TaskIO(terminal=True)), "k8s.io"),      # 5
            (RawEvent(type_url="x.Y", value=b""), "default"),                        # 6 (topic below)
        ]
        opened = {name: await cm.__aenter__() for name, cm in subs.items()}
        for event, ns in events:
            topic = "/tasks/exit" if isinstance(event, RawEvent) else None
            ex.publish(event, namespace=ns, topic=topic)
        expected = {
            "topic": [1, 2, 6],
            "prefix": [1, 2, 5, 6],
            "namespace": [2, 5],
            "or": [2, 3, 5],
            "and": [2, 6],  # a raw event has no fields, so exit_status is "" there
            "label": [3],
            "nested": [4],
            "bool": [5],
            "pid": [1],
        }
        for name, sub in opened.items():
            got = seqs(await take(sub, len(expected[name])))
            assert got == expected[name], name
            await assert_empty(sub)
        for cm in subs.values():
            await cm.__aexit__(None, None, None)
        assert ex.statistics().subscribers == 0

    run(main)


def test_bad_subscribe_arguments() -> None:
    ex = Exchange()
    with pytest.raises(InvalidArgument, match="parse error"):
        ex.subscribe("topic==")
    with pytest.raises(InvalidArgument, match="since must be >= 0"):
        ex.subscribe(since=-1)
    with pytest.raises(InvalidArgument, match="buffer must be >= 1"):
        ex.subscribe(buffer=0)


def test_slow_subscriber_misses_and_publisher_never_blocks() -> None:
    async def main() -> None:
        ex = Exchange()
        async with ex.subscribe(buffer=4) as slow, ex.subscribe(buffer=20_000) as fast:
            for i in range(10_000):  # no checkpoint in here: publish is synchronous
                ex.publish(TaskExit(pid=i), namespace="default")
            assert ex.statistics().dropped == 9_996
            assert seqs(await take(slow, 4)) == [1, 2, 3, 4]
            await assert_empty(slow)
            ex.publish(TaskOOM(), namespace="default")
            assert seqs(await take(slow, 2)) == ["missed 9996", 10_001]
            ex.publish(TaskOOM(), namespace="default")
            assert seqs(await take(slow, 1)) == [10_002]  # the notice came once
            assert seqs(await take(fast, 10_002)) == list(range(1, 10_003))
        stats = ex.statistics()
        assert (stats.published, stats.dropped, stats.subscribers, stats.last_seq) == (10_002, 9_996, 0, 10_002)
        assert (stats.ring_size, stats.ring_capacity) == (4096, 4096)

    run(main)


def test_missed_counts_only_what_the_filter_wanted() -> None:
    async def main() -> None:
        ex = Exchange()
        async with ex.subscribe('topic=="/tasks/oom"', buffer=1) as sub:
            for _ in range(3):
                ex.publish(TaskOOM(), namespace="default")
                ex.publish(TaskExit(), namespace="default")
            ex_seq = ex.publish(TaskOOM(), namespace="default").seq
            assert seqs(await take(sub, 1)) == [1]
            ex.publish(TaskOOM(), namespace="default")
            assert seqs(await take(sub, 2)) == ["missed 3", ex_seq + 1]

    run(main)


def test_resume_from_sequence_number() -> None:
    async def main() -> None:
        ex = Exchange()
        for i in range(10):
            ex.publish(TaskExit(pid=i) if i % 2 else TaskOOM(), namespace="default")
        async with ex.subscribe(since=4) as sub:
            ex.publish(TaskOOM(), namespace="default")
            assert seqs(await take(sub, 7)) == [5, 6, 7, 8, 9, 10, 11]
            await assert_empty(sub)
        async with ex.subscribe('topic=="/tasks/exit"', since=0) as sub:
            assert seqs(await take(sub, 5)) == [2, 4, 6, 8, 10]
            await assert_empty(sub)
        async with ex.subscribe(since=11) as sub:  # up to date: nothing replayed
            await assert_empty(sub)
            ex.publish(TaskOOM(), namespace="default")
            assert seqs(await take(sub, 1)) == [12]
        async with ex.subscribe(since=1_000) as sub:  # beyond the last: live only
            ex.publish(TaskOOM(), namespace="default")
            assert seqs(await take(sub, 1)) == [13]

    run(main)


def test_resume_across_live_boundary_has_no_gap_and_no_duplicate() -> None:
    async def main() -> None:
        ex = Exchange()
        total = 300
        got: list[int | str] = []
        halfway = trio.Event()

        async def publisher() -> None:
            for i in range(total):
                ex.publish(TaskExit(pid=i), namespace="default")
                if i == 100:
                    halfway.set()
                await trio.lowlevel.checkpoint()

        async def subscriber() -> None:
            await halfway.wait()
            since = ex.statistics().last_seq - 50
            async with ex.subscribe(since=since, buffer=total) as sub:
                items = await take(sub, total - since)
            got.extend(seqs(items))
            got.insert(0, since)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(subscriber)
            nursery.start_soon(publisher)
        since = int(got.pop(0))
        assert got == list(range(since + 1, total + 1))

    run(main)


def test_eviction_from_ring_is_reported_as_missed() -> None:
    async def main() -> None:
        ex = Exchange(ring_size=5)
        for _ in range(10):
            ex.publish(TaskOOM(), namespace="default")
        assert ex.statistics().ring_size == 5
        async with ex.subscribe(since=2) as sub:
            assert seqs(await take(sub, 6)) == ["missed 3", 6, 7, 8, 9, 10]
        async with ex.subscribe(since=0) as sub:
            assert seqs(await take(sub, 6)) == ["missed 5", 6, 7, 8, 9, 10]
        async with ex.subscribe("namespace==other", since=0) as sub:
            assert seqs(await take(sub, 1)) == ["missed 5"]  # evicted ones cannot be filtered
            await assert_empty(sub)
        no_ring = Exchange(ring_size=0)
        no_ring.publish(TaskOOM(), namespace="default")
        async with no_ring.subscribe(since=0) as sub:
            assert seqs(await take(sub, 1)) == ["missed 1"]

    run(main)


def test_namespaces_are_kept_apart_by_filters_only() -> None:
    async def main() -> None:
        ex = Exchange()
        async with ex.subscribe() as everything, ex.subscribe("namespace==a") as only_a:
            with namespaces.use("a"):
                ex.publish(TaskOOM())
            with namespaces.use("b"):
                ex.publish(TaskOOM())
            assert [e.namespace for e in await take(everything, 2)] == ["a", "b"]  # type: ignore[union-attr]
            assert [e.namespace for e in await take(only_a, 1)] == ["a"]  # type: ignore[union-attr]
            await assert_empty(only_a)

    run(main)


def test_leaving_the_block_unsubscribes() -> None:
    async def main() -> None:
        ex = Exchange()
        cm = ex.subscribe()
        async with cm as sub:
            assert ex.statistics().subscribers == 1
            ex.publish(TaskOOM(), namespace="default")
        assert ex.statistics().subscribers == 0
        ex.publish(TaskOOM(), namespace="default")
        assert ex.statistics().dropped == 0
        with pytest.raises(StopAsyncIteration):
            await sub.__anext__()
        with pytest.raises(RuntimeError, match="already entered"):
            await cm.__aenter__()

    run(main)


def test_unsubscribe_from_another_task_ends_a_waiting_iteration() -> None:
    async def main() -> None:
        ex = Exchange()
        done: list[str] = []
        async with trio.open_nursery() as nursery:
            cm = ex.subscribe()
            sub = await cm.__aenter__()

            async def reader() -> None:
                async for _ in sub:
                    pass
                done.append("ended")

            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            await cm.__aexit__(None, None, None)
        assert done == ["ended"]

    run(main)


def test_close_ends_subscriptions_after_buffered_items() -> None:
    async def main() -> None:
        ex = Exchange()
        async with ex.subscribe() as sub:
            ex.publish(TaskOOM(), namespace="default")
            ex.close()
            assert [item async for item in sub] == [ex._ring[0]]
        with pytest.raises(Unavailable, match="closed"):
            async with ex.subscribe():
                pass
        ex.publish(TaskOOM(), namespace="default")  # still fine during shutdown

    run(main)


def test_every_iteration_and_entry_is_a_checkpoint() -> None:
    async def main() -> None:
        ex = Exchange()
        ex.publish(TaskOOM(), namespace="default")
        with trio.testing.assert_checkpoints():
            cm = ex.subscribe(since=0, buffer=1)
            sub = await cm.__aenter__()
        with trio.testing.assert_checkpoints():
            await sub.__anext__()  # replayed
        ex.publish(TaskOOM(), namespace="default")
        with trio.testing.assert_checkpoints():
            await sub.__anext__()  # live
        ex.publish(TaskOOM(), namespace="default")
        ex.publish(TaskOOM(), namespace="default")
        ex.publish(TaskOOM(), namespace="default")
        await sub.__anext__()
        ex.publish(TaskOOM(), namespace="default")
        with trio.testing.assert_checkpoints():
            assert isinstance(await sub.__anext__(), Missed)
        with trio.testing.assert_checkpoints():
            assert isinstance(await sub.__anext__(), Envelope)  # the one held behind the notice
        await cm.__aexit__(None, None, None)

    run(main)


def test_cancelled_wait_loses_nothing() -> None:
    async def main() -> None:
        ex = Exchange()
        async with ex.subscribe() as sub:
            with trio.move_on_after(0.01):
                await sub.__anext__()
            env = ex.publish(TaskOOM(), namespace="default")
            assert await sub.__anext__() == env

    run(main)
