"""The benchmark harness's pure parts: statistics, rows, ratios, tables, JSON, interleaving."""
from __future__ import annotations

import json
import pathlib
import sys

import pytest

# bench/ is a top-level folder of the repository, not part of the installed
# berth package; make it importable however pytest was started.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from bench.harness import Row, Stats, alternate, format_table, format_value, percentile, throughput, to_json  # noqa: E402


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 0) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="0..100"):
        percentile([1.0], 101)


def test_stats_and_throughput() -> None:
    s = Stats.of([0.001, 0.002, 0.003])
    assert (s.n, s.p50, s.min, s.max) == (3, 0.002, 0.001, 0.003)
    assert s.mean == pytest.approx(0.002)
    assert throughput(500, 2.0) == 250.0
    assert throughput(5, 0.0) == 0.0


def test_ratio_and_verdict() -> None:
    row = Row(name="p50", berth=0.0006, peer=0.0004, target="<= 2x containerd", max_ratio=2.0)
    assert row.ratio == pytest.approx(1.5)
    assert row.verdict == "ok"
    assert Row(name="p50", berth=0.001, peer=0.0004, max_ratio=2.0).verdict == "MISS"
    assert Row(name="tput", berth=100.0, peer=400.0, unit="/s", min_ratio=0.5).verdict == "MISS"
    assert Row(name="info", berth=1.0, peer=2.0).verdict == ""
    skipped = Row(name="p50", berth=0.001, peer=None, max_ratio=2.0)
    assert skipped.ratio is None and skipped.verdict == ""
    assert Row(name="zero", berth=1.0, peer=0.0).ratio is None


def test_row_checks_its_fields() -> None:
    with pytest.raises(TypeError, match="'berth' must be a number or None"):
        Row(name="x", berth="12", peer=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a name"):
        Row(name="", berth=None, peer=None)


def test_format_value() -> None:
    assert format_value(0.000578, "s") == "578 µs"
    assert format_value(0.0108, "s") == "10.8 ms"
    assert format_value(1.5, "s") == "1.5 s"
    assert format_value(4.2e-8, "s") == "42 ns"
    assert format_value(1980.0, "/s") == "1.98k/s"
    assert format_value(12.0, "/s") == "12/s"
    assert format_value(None, "s") == "-"
    assert format_value(3.0, "MiB") == "3 MiB"


def test_format_table() -> None:
    rows = [
        Row(name="Version p50, 1 client", berth=0.000578, peer=0.000352, target="<= 2x containerd", max_ratio=2.0),
        Row(name="throughput", berth=1980.0, peer=None, unit="/s"),
    ]
    lines = format_table(rows).splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["name", "berth", "peer", "ratio berth/peer", "target"]
    assert set(lines[1]) <= {"-", "+"}
    assert [c.strip() for c in lines[2].split("|")] == [
        "Version p50, 1 client", "578 µs", "352 µs", "1.64x", "<= 2x containerd ok"]
    assert [c.strip() for c in lines[3].split("|")] == ["throughput", "1.98k/s", "-", "-", ""]
    assert len({line.index("|") for line in (lines[0], lines[2], lines[3])}) == 1  # columns line up


def test_to_json_round_trips() -> None:
    data = to_json({"api": [Row(name="p50", berth=2.0, peer=1.0, max_ratio=2.0)]}, {"quick": True})
    back = json.loads(json.dumps(data))
    assert back["meta"] == {"quick": True}
    assert back["benchmarks"]["api"][0] == {
        "name": "p50", "berth": 2.0, "peer": 1.0, "unit": "s", "target": "", "max_ratio": 2.0,
        "min_ratio": None, "note": "", "ratio": 2.0, "verdict": "ok"}


def test_alternate_interleaves_and_rotates() -> None:
    order: list[str] = []

    def subject(name: str) -> object:
        def call() -> str:
            order.append(name)
            return name
        return call

    results = alternate({"a": subject("a"), "b": subject("b")}, 4)  # type: ignore[dict-item]
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert results == {"a": ["a"] * 4, "b": ["b"] * 4}
