"""The bundle on the workers, and the task each partition runs.

Workers do not share the client's model store. The client reads the verified bundle's files and
registers a `BundlePlugin` holding their bytes; Dask hands it to every worker, including one
that joins or restarts later. On each worker the plugin writes the files under the worker's own
local directory, checks every digest and library version against the manifest and the manifest
against the store's recorded sha256 (`scoring.bundle.load_bundle`), and loads the bundle, once
per worker process. Tasks find it by the manifest's sha256.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from distributed import WorkerPlugin
from threadpoolctl import threadpool_limits

from batch.errors import BatchError
from batch.io import Partition, output_location, read_partition, write_partition
from batch.layout import ERROR_MESSAGE, STRING, answer_layout
from batch.options import ExplainOptions, Plan
from batch.partition import explain_rows
from scoring.bundle import Bundle, load_bundle

_LOADED: dict[str, Bundle] = {}
LOADS: list[str] = []  # the digests this process loaded, in order (one entry per load)


class BundlePlugin(WorkerPlugin):
    """Ships one bundle (its files as bytes) to every worker and loads it there."""

    def __init__(self, files: dict[str, bytes], manifest_sha256: str, tag: str):
        self.files = files
        self.manifest_sha256 = manifest_sha256
        self.tag = tag
        self.name = f"explained-serving-bundle-{manifest_sha256[:16]}"

    def setup(self, worker: Any) -> None:
        if self.manifest_sha256 in _LOADED:
            return
        folder = Path(worker.local_directory) / "bundles" / self.manifest_sha256
        for rel, content in self.files.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        _LOADED[self.manifest_sha256] = load_bundle(folder, manifest_sha256=self.manifest_sha256)
        LOADS.append(self.manifest_sha256)


def worker_bundle(manifest_sha256: str) -> Bundle:
    try:
        return _LOADED[manifest_sha256]
    except KeyError:
        raise BatchError(
            f"bundle {manifest_sha256[:12]}... was not shipped to this worker "
            "(register its BundlePlugin first)"
        ) from None


@dataclass(frozen=True)
class TaskJob:
    """What every partition task needs besides its partition: small, sent with each task."""

    manifest_sha256: str
    options: ExplainOptions
    input_columns: tuple[str, ...]  # read from each file: the schema's, the id and kept ones
    output: str  # the output folder's URL


def run_partition(partition: Partition, job: TaskJob) -> dict[str, Any]:
    """Read, explain and write one partition; its figures (`PartitionStats.to_json`)."""
    started = time.perf_counter()
    bundle = worker_bundle(job.manifest_sha256)
    plan = Plan.of(bundle, job.options)
    frame = read_partition(partition, list(job.input_columns))
    # one BLAS/OpenMP thread per task: a worker is one core (its own BLAS threads on top would
    # oversubscribe the machine, and two workers would not run twice as fast as one)
    with threadpool_limits(limits=1):
        explained = explain_rows(bundle, plan, frame, offset=partition.offset, source=partition.source)
    table = to_arrow(plan, explained.columns, explained.good, frame)
    fs, folder = output_location(job.output)
    stats = explained.stats
    stats.seconds = time.perf_counter() - started
    write_partition(fs, folder, partition.name, table, stats.to_json())
    return stats.to_json()


def to_arrow(plan: Plan, columns: dict[str, Any], good: Any, frame: Any) -> pa.Table:
    """The partition's columns as an Arrow table whose answer columns have the layout's types
    (nulls for rows without answers), so every file of the dataset has one schema."""
    kinds = dict(answer_layout(plan))
    mask = None if good.all() else ~good
    arrays, names = [], []
    for name, values in columns.items():
        if name in kinds:
            kind = kinds[name]
            arrays.append(pa.array(values, type=pa.string() if kind == STRING else pa.float64(), mask=mask))
        elif name == ERROR_MESSAGE:
            arrays.append(pa.array(values, type=pa.string()))
        else:  # the id and kept columns, as the input has them
            arrays.append(pa.Array.from_pandas(frame[name]) if name in frame.columns else pa.array(values))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)
