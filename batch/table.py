"""A whole table on a Dask cluster: `explain_table(bundle, input, output, ...)`.

The client reads and verifies the bundle from its model store, plans the partitions, ships the
bundle to every worker (`batch.workers.BundlePlugin`), submits one task per partition and
reduces their small figures into `summary.json` and `global_importance.png` beside the output.
Tasks read, explain and write their partition on their own: memory per worker is bounded by the
partition size, never by the table. Dask reruns the tasks of a worker that dies; each file is
written atomically, so the output holds every row exactly once.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from batch.errors import BatchError
from batch.io import (
    finished_partitions,
    output_location,
    plan_partitions,
    remove_temporaries,
)
from batch.options import ExplainOptions, Plan
from batch.rows import check_columns
from batch.summary import PartitionStats, global_importance, importance_plot, out_of_range
from batch.workers import BundlePlugin, TaskJob, run_partition
from scoring.bundle import MANIFEST, STORE_FILES, Bundle, load_bundle, recorded_digest

DEFAULT_PARTITION_ROWS = 50_000
JOB_FILE = "_job.json"
SUMMARY_FILE = "_summary.json"  # "_": Parquet readers of the folder skip it
PLOT_FILE = "_global_importance.png"
CONNECT_SECONDS = 10  # how long to try reaching an existing scheduler


@dataclass(frozen=True)
class StoredBundle:
    """A bundle read from the model store and verified, with the files to ship."""

    tag: str
    manifest_sha256: str
    bundle: Bundle
    files: dict[str, bytes]


@dataclass(frozen=True)
class TableResult:
    output: str
    summary: dict[str, Any]


def read_stored_bundle(tag: str) -> StoredBundle:
    """The bundle `tag` of the current BentoML model store, verified as the service verifies it
    (the store's recorded manifest sha256, then every file's digest and library version)."""
    import bentoml

    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise BatchError(
            f"no bundle {tag!r} in the model store ({os.environ.get('BENTOML_HOME', '~/bentoml')})"
        ) from None
    digest = recorded_digest(stored.info.metadata, stored.tag)
    folder = Path(stored.path)
    bundle = load_bundle(folder, manifest_sha256=digest)
    files = {rel: (folder / rel).read_bytes() for rel in bundle.manifest["files"]}
    files[MANIFEST] = (folder / MANIFEST).read_bytes()
    assert not set(files) & STORE_FILES
    return StoredBundle(str(stored.tag), digest, bundle, files)


def explain_table(
    bundle: str,
    input: str,
    output: str,
    *,
    options: ExplainOptions | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    resume: bool = False,
    progress: bool = True,
) -> TableResult:
    """Explain every row of the table at `input` with the stored bundle `bundle` (a model-store
    tag); write the answers under `output` (one Parquet file per partition, `summary.json`,
    `global_importance.png`). Runs on the cluster at `scheduler`, or on a local cluster of
    `workers` processes of one thread each (default: the machine's cores)."""
    options = options or ExplainOptions()
    if scheduler is not None and workers is not None:
        raise BatchError("give either scheduler (an existing cluster) or workers (a local one), not both")
    if workers is not None and workers < 1:
        raise BatchError(f"workers must be at least 1, got {workers}")
    stored = read_stored_bundle(bundle)
    plan = Plan.of(stored.bundle, options)
    partitions, columns = plan_partitions(input, partition_rows)
    check_columns(stored.bundle.schema, columns, input)
    for name in [*(options.keep), *([options.id_column] if options.id_column else [])]:
        if name not in columns:
            raise BatchError(f"input {input!r} has no column {name!r}; its columns are {columns}")
    needed = tuple(
        dict.fromkeys([*stored.bundle.schema.names, *options.keep, *filter(None, [options.id_column])])
    )
    fs, folder = output_location(output)
    fingerprint = {
        "bundle": stored.tag,
        "manifest_sha256": stored.manifest_sha256,
        "input": input,
        "partitions": [[p.url, p.start, p.stop] for p in partitions],
        "options": options.to_json(),
    }
    done = _prepare_output(fs, folder, fingerprint, resume)
    todo = [p for p in partitions if p.name not in done]
    job = TaskJob(stored.manifest_sha256, options, needed, fs.unstrip_protocol(folder))
    started = time.perf_counter()
    stats = [PartitionStats.from_json(done[p.name]) for p in partitions if p.name in done]
    with _ClusterClient(scheduler, workers) as client:
        cluster_seconds = time.perf_counter() - started
        client.register_plugin(BundlePlugin(stored.files, stored.manifest_sha256, stored.tag))
        if progress and "dashboard" in (client.scheduler_info().get("services") or {}):
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        fresh = _run(client, todo, job, progress)
    seconds = time.perf_counter() - started
    remove_temporaries(fs, folder)
    summary = _summary(stored, plan, partitions, [*stats, *fresh], fresh, seconds)
    summary["cluster_start_seconds"] = cluster_seconds
    with fs.open(f"{folder}/{SUMMARY_FILE}", "w") as f:
        json.dump(summary, f, indent=1)
    importance = summary["global_importance"]
    with fs.open(f"{folder}/{PLOT_FILE}", "wb") as f:
        f.write(
            importance_plot(importance, f"{stored.tag}: mean |attribution| over {importance['rows']:,} rows")
        )
    return TableResult(fs.unstrip_protocol(folder), summary)


def _prepare_output(
    fs: Any, folder: str, fingerprint: dict[str, Any], resume: bool
) -> dict[str, dict[str, Any]]:
    """Finished partitions' figures (when resuming the same job); BatchError when the folder
    holds anything else."""
    job_file = f"{folder}/{JOB_FILE}"
    if fs.exists(folder) and fs.ls(folder):
        if not resume:
            raise BatchError(
                f"output {folder!r} is not empty; choose a new folder, or pass resume to finish its job"
            )
        if not fs.exists(job_file):
            raise BatchError(f"output {folder!r} holds no batch job to resume ({JOB_FILE} is missing)")
        with fs.open(job_file, "r") as f:
            previous = json.load(f)
        if previous != fingerprint:
            changed = sorted(k for k in fingerprint if previous.get(k) != fingerprint[k])
            raise BatchError(
                f"output {folder!r} holds another job (differs in {changed}); resume needs the same job"
            )
        remove_temporaries(fs, folder)
        return finished_partitions(fs, folder)
    fs.makedirs(folder, exist_ok=True)
    with fs.open(job_file, "w") as f:
        json.dump(fingerprint, f, indent=1)
    return {}


class _ClusterClient:
    """A client of the cluster at `scheduler`, or of a local cluster it starts and stops."""

    def __init__(self, scheduler: str | None, workers: int | None):
        self.scheduler = scheduler
        self.workers = workers
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self.client = Client(self.scheduler, timeout=CONNECT_SECONDS)
            except (OSError, TimeoutError) as error:
                raise BatchError(f"cannot reach the Dask scheduler at {self.scheduler!r}: {error}") from None
            return self.client
        dashboard = ":0" if _has_bokeh() else None
        self.cluster = LocalCluster(
            n_workers=self.workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=dashboard,
        )
        self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _run(client: Any, todo: Sequence[Any], job: TaskJob, progress: bool) -> list[PartitionStats]:
    """Submit every partition; their figures as they finish (the first failure cancels the rest)."""
    from distributed import as_completed
    from tqdm import tqdm

    if not todo:
        return []
    run_id = uuid.uuid4().hex[:8]
    keys = [f"explain-{run_id}-{p.index}" for p in todo]
    futures = client.map(run_partition, todo, job=job, key=keys, pure=False)
    total_rows = sum(p.n_rows for p in todo)
    done: list[PartitionStats] = []
    rows = 0
    started = time.perf_counter()
    bar = tqdm(total=total_rows, unit="row", unit_scale=True, disable=not progress, desc="explaining")
    try:
        for future in as_completed(futures):
            if future.status == "error":
                error = future.exception()
                client.cancel(futures)
                raise error
            stats = PartitionStats.from_json(future.result())
            done.append(stats)
            rows += stats.rows
            bar.update(stats.rows)
            bar.set_postfix(
                partitions=f"{len(done)}/{len(todo)}", rows_s=f"{rows / (time.perf_counter() - started):,.0f}"
            )
    finally:
        bar.close()
    return done


def _summary(
    stored: StoredBundle,
    plan: Plan,
    partitions: Sequence[Any],
    stats: Sequence[PartitionStats],
    fresh: Sequence[PartitionStats],
    seconds: float,
) -> dict[str, Any]:
    m, k = len(plan.feature_names), len(plan.outputs.names)
    total = PartitionStats(rows=0, explained=0, skipped=0, seconds=0.0, abs_sum=np.zeros((m, k)))
    for s in stats:
        total = total.merge(s)
    explainer = stored.bundle.explainer
    return {
        "rows": total.rows,
        "explained": total.explained,
        "skipped": total.skipped,
        "partitions": len(partitions),
        "partitions_run": len(fresh),
        "rows_run": sum(s.rows for s in fresh),
        "seconds": seconds,
        "rows_per_second": sum(s.rows for s in fresh) / seconds if seconds > 0 else None,
        "task_seconds": total.seconds,
        "bundle": {
            "tag": stored.tag,
            "manifest_sha256": stored.manifest_sha256,
            "files": dict(stored.bundle.manifest["files"]),
        },
        "explainer": {"method": str(explainer.method), "space": str(explainer.space_)},
        "options": plan.options.to_json(),
        "level": str(plan.options.level),
        "global_importance": global_importance(total, plan.feature_names, plan.outputs.names),
        "error_quantiles": total.error_quantiles(),
        "error_quantiles_note": (
            "stated per-row error of each explained output, from a histogram with bins 3.7% wide"
        ),
        "out_of_range": out_of_range(total, plan.feature_names),
    }
