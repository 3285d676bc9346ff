"""The disk spool: FIFO order, durability across reopen, torn tails, the size bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.sinks.spool import Spool, SpoolFull


def opened(path: Path, max_bytes: int = 1 << 20) -> Spool:
    spool = Spool(path, max_bytes)
    spool.open()
    return spool


def test_fifo_and_reopen(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(["a 1", "b 2"], now_ns=10)
    spool.append(["c 3"], now_ns=20)
    assert spool.records == 2
    assert spool.oldest_ns == 10
    first = spool.peek()
    assert first is not None
    assert first.lines == ["a 1", "b 2"]
    spool.pop()
    again = opened(tmp_path)  # as after a restart
    record = again.peek()
    assert record is not None
    assert record.lines == ["c 3"]
    assert again.oldest_ns == 20
    again.pop()
    assert again.empty
    assert opened(tmp_path).empty
    assert not list(tmp_path.glob("segment-*"))  # written segments are removed


def test_torn_tail_is_cut_and_appends_continue(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(["a 1"], now_ns=1)
    segment = next(tmp_path.glob("segment-*"))
    with segment.open("ab") as handle:
        handle.write(b"\x00\x00\x00\x50garbage")  # a crash in the middle of an append
    again = opened(tmp_path)
    assert again.records == 1
    again.append(["b 2"], now_ns=2)
    assert [r.lines for r in drain(opened(tmp_path))] == [["a 1"], ["b 2"]]


def test_full_spool_refuses_instead_of_dropping(tmp_path: Path) -> None:
    spool = opened(tmp_path, max_bytes=200)
    spool.append(["x" * 100], now_ns=1)
    with pytest.raises(SpoolFull):
        spool.append(["y" * 100], now_ns=2)
    spool.pop()
    spool.append(["y" * 100], now_ns=3)  # room again after draining
    assert spool.records == 1


def drain(spool: Spool) -> list[object]:
    out = []
    while (record := spool.peek()) is not None:
        out.append(record)
        spool.pop()
    return out


batches = st.lists(
    st.lists(
        st.text(st.characters(exclude_characters="\n", exclude_categories=("Cs",)), min_size=1),
        min_size=1,
        max_size=5,
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(first=batches, second=batches, pops=st.integers(0, 40))
def test_spool_is_a_durable_fifo(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[list[str]],
    second: list[list[str]],
    pops: int,
) -> None:
    path = tmp_path_factory.mktemp("spool")
    spool = opened(path)
    for i, batch in enumerate(first):
        spool.append(batch, now_ns=i)
    popped = drain_some(spool, pops)
    spool = opened(path)  # restart between the two halves
    for i, batch in enumerate(second):
        spool.append(batch, now_ns=i)
    rest = [r.lines for r in drain(opened(path))]  # type: ignore[attr-defined]
    assert popped + rest == first + second


def drain_some(spool: Spool, count: int) -> list[list[str]]:
    out = []
    for _ in range(count):
        record = spool.peek()
        if record is None:
            break
        out.append(record.lines)
        spool.pop()
    return out
