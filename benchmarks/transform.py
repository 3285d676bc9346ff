"""In-process cost per uplink: the service's transform and aggregation without any I/O.

The same uplinks as ``end_to_end`` (three networks, all kinds, 900 devices) go through the
service's own ``Pipeline`` objects, built from a config for a broker and database that are never
contacted: ``Transformer.transform`` (route, envelope, registry, dedup, decode, validate, QC,
line protocol) in batches of 2,500, then the aggregation processors and their lines. After a
warm-up pass the CPU time (``time.process_time``, so other processes on the host count less) is
divided by the uplinks; then one more pass runs under ``cProfile`` (same clock) and its top
functions by own time are printed: the profile the performance notes quote.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.end_to_end import generate_messages
from benchmarks.table import print_table
from ingest.aggregation import points_lines
from ingest.model import Message
from ingest.pipeline import Pipeline
from ingest.plan import plan
from ingest.settings import load_settings
from simulators.servers.service import write_service_config

__all__ = ["run"]

_BATCH = 2_500  # the service's batch: influxdb.batch_size // 2


def _passes(pipeline: Pipeline, messages: list[Message]) -> tuple[float, float]:
    """CPU seconds of transform, and of aggregation with its lines, over ``messages``."""
    transform = aggregate = 0.0
    for start in range(0, len(messages), _BATCH):
        began = time.process_time()
        prepared = pipeline.transformer.transform(messages[start : start + _BATCH])
        middle = time.process_time()
        points = pipeline.aggregator.process(prepared.readings, prepared.links)
        points_lines([*prepared.revisions, *points], pipeline.transformer.device_tags)
        transform += middle - began
        aggregate += time.process_time() - middle
    return transform, aggregate


def _profile(work: Callable[[], object], top: int) -> str:
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(work)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime").print_stats(top)
    return text.getvalue()


def run(count: int = 30_000, repetitions: int = 3, top: int = 15) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp:
        workdir = Path(tmp)
        raw = generate_messages(workdir, count * (repetitions + 2), seed=1)
        config = write_service_config(workdir, mqtt_port=1, influx_url="http://127.0.0.1:1")
        pipeline = Pipeline(plan(load_settings(config)))
        now = time.time_ns()
        messages = [Message(topic, body, now, i) for i, (topic, body) in enumerate(raw)]
        slices = [messages[i * count : (i + 1) * count] for i in range(repetitions + 2)]
        _passes(pipeline, slices[0])  # warm-up: imports, caches, every device's first reading
        results = [_passes(pipeline, part) for part in slices[1:-1]]
        profile = _profile(lambda: _passes(pipeline, slices[-1]), top)
    best = min(results, key=sum)
    print_table(
        f"In-process CPU per uplink ({count:,} uplinks, best of {repetitions}, batches of "
        f"{_BATCH:,})",
        ("stage", "µs per uplink", "runs"),
        [
            ("transform", f"{best[0] / count * 1e6:.1f}", _runs(results, 0, count)),
            ("aggregate + lines", f"{best[1] / count * 1e6:.1f}", _runs(results, 1, count)),
        ],
    )
    print(f"\ncProfile of one more pass (CPU clock; it inflates Python calls):\n{profile}")


def _runs(results: list[tuple[float, float]], index: int, count: int) -> str:
    return " ".join(f"{r[index] / count * 1e6:.1f}" for r in results)
