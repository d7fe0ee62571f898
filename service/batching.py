"""Adaptive batching across concurrent requests: checked rows from many requests are predicted
and explained together, so the explainer's vectorized work is shared.

`MicroBatcher` queues jobs and runs them on one worker thread. While a batch runs, new jobs wait;
when it ends, everything waiting (up to `max_rows` rows) becomes the next batch. At low load a
job runs at once, alone; under load batches grow by themselves. A batch that fails is re-run job
by job, so one job's failure is its own and never another request's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np
import pandas as pd

from scoring.bundle import Bundle, Prediction
from scoring.explanation import Explanation, Level
from scoring.refine import Budget

logger = logging.getLogger("bentoml.service.batching")

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    """Checked rows of one request, and the level to explain them at (None: predictions only)."""

    frame: pd.DataFrame
    level: Level | None
    budget: Budget | None = None  # refine every row within it; None: the default refinement

    @property
    def n_rows(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class Outcome:
    prediction: Prediction
    explanation: Explanation | None


def run_jobs(bundle: Bundle, jobs: Sequence[Job], *, default_budget: Budget | None = None) -> list[Outcome]:
    """Predict and explain the jobs' rows in one pass (`Bundle.answer`) per level and budget.

    Rows are independent in every explainer (one coalition design and background for all rows),
    so a row's answer does not depend on which other rows share its batch. A job with a budget
    has every row refined within it; the others get the default refinement (`default_budget`,
    None: none) of the rows that need it.
    """
    outcomes: list[Outcome | None] = [None] * len(jobs)
    for level, budget in dict.fromkeys((j.level, j.budget) for j in jobs):
        members = [i for i, j in enumerate(jobs) if j.level is level and j.budget == budget]
        frames = [jobs[i].frame for i in members]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        answer = bundle.answer(frame, level, budget=budget, default_budget=default_budget)
        if len(members) == 1:  # the whole answer is the one job's
            outcomes[members[0]] = Outcome(answer.prediction, answer.explanation)
            continue
        start = 0
        for i in members:
            part = slice(start, start + jobs[i].n_rows)
            prediction = answer.prediction
            probabilities = None if prediction.probabilities is None else prediction.probabilities[part]
            explanation = None if answer.explanation is None else answer.explanation.select(part)
            outcomes[i] = Outcome(Prediction(prediction.labels[part], probabilities), explanation)
            start += jobs[i].n_rows
    return [outcome for outcome in outcomes if outcome is not None]


def split_job(job: Job, max_rows: int) -> list[Job]:
    """A job as consecutive parts of at most `max_rows` rows, so a big request takes its turns
    between others' batches, and stops using the worker once its caller has gone."""
    if job.n_rows <= max_rows:
        return [job]
    return [
        Job(job.frame.iloc[start : start + max_rows].reset_index(drop=True), job.level, job.budget)
        for start in range(0, job.n_rows, max_rows)
    ]


def join_outcomes(parts: Sequence[Outcome]) -> Outcome:
    """The outcome of a split job: its parts' rows back in order."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    probabilities = None
    if first.prediction.probabilities is not None:
        probabilities = np.concatenate([p.prediction.probabilities for p in parts])
    explanation = None
    if first.explanation is not None:
        pieces = [p.explanation for p in parts if p.explanation is not None]
        stderr = None if first.explanation.stderr is None else np.concatenate([e.stderr for e in pieces])
        data = None if first.explanation.data is None else np.concatenate([e.data for e in pieces])
        outside = None if first.explanation.outside is None else np.concatenate([e.outside for e in pieces])
        evaluations = None
        if first.explanation.evaluations is not None:
            evaluations = np.concatenate([e.evaluations for e in pieces])
        explanation = replace(
            first.explanation,
            values=np.concatenate([e.values for e in pieces]),
            outputs=np.concatenate([e.outputs for e in pieces]),
            stderr=stderr,
            data=data,
            outside=outside,
            evaluations=evaluations,
        )
    labels = np.concatenate([p.prediction.labels for p in parts])
    return Outcome(Prediction(labels, probabilities), explanation)


class MicroBatcher(Generic[J, R]):
    """Runs `run(jobs) -> results` (one result per job, in order) on batches of submitted jobs.

    `size(job)` counts a job's rows; a batch holds at most `max_rows` of them (a bigger job runs
    alone). `max_wait_ms` > 0 lets a batch wait that long for company before it starts.
    `initializer` runs first in the worker thread (e.g. its BLAS/OpenMP thread limits: OpenMP's
    are per thread). A batch of at most `inline_rows` rows that is the only work in flight (one
    request at a time, nobody to batch with) runs on the event loop itself: the hand-over to the
    thread and back costs more than a few rows' work, and no other request is waiting.
    """

    def __init__(
        self,
        run: Callable[[Sequence[J]], list[R]],
        *,
        size: Callable[[J], int],
        max_rows: int,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
        initializer: Callable[[], object] | None = None,
        inline_rows: int = 0,
    ):
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.run = run
        self.size = size
        self.max_rows = max_rows
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch
        self.inline_rows = inline_rows
        self._in_flight = 0  # submitted jobs not yet answered
        self._queue: deque[tuple[J, asyncio.Future[R]]] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="explain", initializer=initializer
        )

    async def submit(self, job: J) -> R:
        """The job's result once its batch has run (or the exception its own run raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((job, future))
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        self._in_flight += 1
        try:
            return await future
        finally:
            self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if self.max_wait_ms > 0 and self._queued_rows() < self.max_rows:
                await asyncio.sleep(self.max_wait_ms / 1000)
            batch = self._take()
            if not batch:
                continue
            jobs = [job for job, _ in batch]
            try:
                if self._in_flight <= len(batch) and sum(map(self.size, jobs)) <= self.inline_rows:
                    results = self._run_isolated(jobs)
                else:
                    results = await loop.run_in_executor(self._executor, self._run_isolated, jobs)
            except Exception as exc:  # the executor itself failed (e.g. shut down)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the request went away (cancelled, timed out)
                    continue
                if isinstance(result, _Failed):
                    future.set_exception(result.error)
                else:
                    future.set_result(result)

    def _queued_rows(self) -> int:
        return sum(self.size(job) for job, _ in self._queue)

    def _take(self) -> list[tuple[J, asyncio.Future[R]]]:
        batch: list[tuple[J, asyncio.Future[R]]] = []
        rows = 0
        while self._queue:
            job, future = self._queue[0]
            if future.done():
                self._queue.popleft()
                continue
            n = self.size(job)
            if batch and rows + n > self.max_rows:
                break
            batch.append(self._queue.popleft())
            rows += n
        return batch

    def _run_isolated(self, jobs: list[J]) -> list[R | _Failed]:
        """Run the batch; if it fails, run each job alone so the failure stays with its job."""
        try:
            results: list[R | _Failed] = list(self.run(jobs))
        except Exception as exc:
            if len(jobs) == 1:
                return [_Failed(exc)]
            logger.warning("a batch of %d jobs failed (%s); running them one by one", len(jobs), exc)
            results = [self._run_one(job) for job in jobs]
        if self.on_batch is not None:
            self.on_batch(len(jobs), sum(self.size(j) for j in jobs))
        return results

    def _run_one(self, job: J) -> R | _Failed:
        try:
            return self.run([job])[0]
        except Exception as exc:
            return _Failed(exc)


@dataclass(frozen=True)
class _Failed:
    error: Exception
