"""Adaptive batching: concurrent jobs share batches, answers do not depend on the company a job
keeps, and a failing job fails alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from scoring.bundle import Bundle
from scoring.explanation import Level
from service.batching import Job, MicroBatcher, join_outcomes, run_jobs, split_job
from tests.service.bundles import mixed_bundle, mixed_frame, rows_of


@pytest.fixture(scope="module")
def mixed() -> Bundle:
    return mixed_bundle()


def test_run_jobs_equals_running_each_alone(mixed: Bundle) -> None:
    X, _ = mixed_frame(n=12, seed=4)
    parts = [X.iloc[0:3], X.iloc[3:4], X.iloc[4:9], X.iloc[9:12]]
    jobs = [
        Job(parts[0].reset_index(drop=True), Level.RAW),
        Job(parts[1].reset_index(drop=True), None),
        Job(parts[2].reset_index(drop=True), Level.ENGINEERED),
        Job(parts[3].reset_index(drop=True), Level.RAW),
    ]
    together = run_jobs(mixed, jobs)
    for job, outcome in zip(jobs, together, strict=True):
        (alone,) = run_jobs(mixed, [job])
        assert np.array_equal(outcome.prediction.labels, alone.prediction.labels)
        assert np.allclose(outcome.prediction.probabilities, alone.prediction.probabilities)
        if job.level is None:
            assert outcome.explanation is None
            continue
        assert outcome.explanation is not None and alone.explanation is not None
        assert outcome.explanation.level is job.level
        assert np.allclose(outcome.explanation.values, alone.explanation.values, rtol=1e-12, atol=1e-12)
        assert np.allclose(outcome.explanation.outputs, alone.explanation.outputs, rtol=1e-12, atol=1e-12)


class Recorder:
    """A batch function that records its batch sizes and doubles numbers, failing on negatives."""

    def __init__(self, delay: float = 0.02):
        self.batches: list[list[int]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, jobs: Sequence[int]) -> list[int]:
        self.batches.append(list(jobs))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if any(j < 0 for j in jobs):
            raise ValueError("negative job")
        return [2 * j for j in jobs]


async def gather_all(batcher: MicroBatcher[int, int], jobs: list[int]) -> list[int | BaseException]:
    return await asyncio.gather(*(batcher.submit(j) for j in jobs), return_exceptions=True)


def test_concurrent_jobs_are_batched_and_answered_in_order() -> None:
    run = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher(run, size=lambda j: 1, max_rows=8)
    results = asyncio.run(gather_all(batcher, list(range(20))))
    assert results == [2 * j for j in range(20)]
    assert len(run.batches) < 20 and max(len(b) for b in run.batches) <= 8
    assert sorted(j for b in run.batches for j in b) == list(range(20))
    assert len(run.threads) == 1  # one worker thread: the model is never called concurrently
    batcher.close()


def test_a_lone_small_job_runs_on_the_loop_and_concurrent_ones_are_still_batched() -> None:
    run = Recorder(delay=0.0)
    batcher: MicroBatcher[int, int] = MicroBatcher(run, size=lambda j: 1, max_rows=8, inline_rows=2)

    async def one_at_a_time() -> list[int]:
        return [await batcher.submit(j) for j in range(3)]

    assert asyncio.run(one_at_a_time()) == [0, 2, 4]
    assert run.threads == {threading.main_thread().name}  # no hand-over to the worker thread
    run.threads.clear()
    results = asyncio.run(gather_all(batcher, list(range(20))))
    assert results == [2 * j for j in range(20)]
    assert any(len(b) > 1 for b in run.batches)  # company: batched, in the worker thread
    assert any(name.startswith("explain") for name in run.threads)
    batcher.close()


def test_a_failing_job_fails_alone() -> None:
    run = Recorder(delay=0.0)
    batcher: MicroBatcher[int, int] = MicroBatcher(run, size=lambda j: 1, max_rows=16)
    results = asyncio.run(gather_all(batcher, [1, 2, -3, 4]))
    assert results[:2] == [2, 4] and results[3] == 8
    assert isinstance(results[2], ValueError)
    batcher.close()


def test_big_jobs_run_alone_and_the_row_cap_holds() -> None:
    run = Recorder(delay=0.0)
    batcher: MicroBatcher[int, int] = MicroBatcher(run, size=lambda j: j, max_rows=10)
    assert asyncio.run(gather_all(batcher, [3, 4, 25, 5, 6])) == [6, 8, 50, 10, 12]
    assert all(sum(b) <= 10 or len(b) == 1 for b in run.batches)
    batcher.close()


def test_waiting_gathers_a_bigger_batch() -> None:
    run = Recorder(delay=0.0)
    batcher: MicroBatcher[int, int] = MicroBatcher(run, size=lambda j: 1, max_rows=64, max_wait_ms=30)

    async def staggered() -> list[int]:
        async def later(j: int) -> int:
            await asyncio.sleep(0.002 * j)
            return await batcher.submit(j)

        return await asyncio.gather(*(later(j) for j in range(5)))

    assert asyncio.run(staggered()) == [0, 2, 4, 6, 8]
    assert run.batches[0] == [0, 1, 2, 3, 4]
    batcher.close()


def test_a_cancelled_request_does_not_stop_the_others() -> None:
    run = Recorder(delay=0.05)
    batcher: MicroBatcher[int, int] = MicroBatcher(run, size=lambda j: 1, max_rows=1)

    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(batcher.submit(j)) for j in range(4)]
        await asyncio.sleep(0.01)
        tasks[2].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        return [d for d in done if isinstance(d, int)]

    assert asyncio.run(main()) == [0, 2, 6]
    assert [2] not in run.batches
    batcher.close()


def test_frames_keep_their_dtypes_when_concatenated(mixed: Bundle) -> None:
    X, _ = mixed_frame(n=4, seed=1)
    frames = [mixed.schema.validate([r]) for r in rows_of(X)]
    together = run_jobs(mixed, [Job(f, Level.RAW) for f in frames])
    alone = run_jobs(mixed, [Job(pd.concat(frames, ignore_index=True), Level.RAW)])[0]
    assert np.allclose(np.concatenate([o.explanation.values for o in together]), alone.explanation.values)


def test_split_and_join_give_back_the_whole_job(mixed: Bundle) -> None:
    X, _ = mixed_frame(n=11, seed=6)
    job = Job(mixed.schema.validate(rows_of(X)), Level.RAW)
    parts = split_job(job, 4)
    assert [p.n_rows for p in parts] == [4, 4, 3]
    joined = join_outcomes([run_jobs(mixed, [p])[0] for p in parts])
    (whole,) = run_jobs(mixed, [job])
    assert np.array_equal(joined.prediction.labels, whole.prediction.labels)
    assert np.allclose(joined.prediction.probabilities, whole.prediction.probabilities)
    assert joined.explanation is not None and whole.explanation is not None
    assert np.allclose(joined.explanation.values, whole.explanation.values)
    assert np.allclose(joined.explanation.outputs, whole.explanation.outputs)
    assert split_job(job, 11) == [job]
