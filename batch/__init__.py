"""Batch explanations: a whole table on Dask, from the same bundle the service serves.

    python -m batch --bundle NAME:VERSION --input PATH --output PATH [--scheduler ADDRESS | --workers N]

`explain_table(...)` runs a job from Python; `explain_partition(bundle, frame)` is the
engine-neutral step every engine can call (Dask here; Spark's `mapInPandas`, Ray Data's
`map_batches`). Uses `scoring` and the model store, never `service` or `training`.
"""

from batch.errors import BatchError, RowError
from batch.layout import output_schema, spark_ddl
from batch.options import ExplainOptions, OnError, Plan
from batch.partition import explain_partition
from batch.table import TableResult, explain_table, read_stored_bundle

__all__ = [
    "BatchError",
    "ExplainOptions",
    "OnError",
    "Plan",
    "RowError",
    "TableResult",
    "explain_partition",
    "explain_table",
    "output_schema",
    "read_stored_bundle",
    "spark_ddl",
]
