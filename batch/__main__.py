"""`python -m batch --bundle TAG --input PATH --output PATH [options]`: explain a whole table."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from batch.errors import BatchError
from batch.options import ExplainOptions, OnError
from batch.table import DEFAULT_PARTITION_ROWS, explain_table
from scoring.errors import ScoringError
from scoring.explanation import Level


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m batch",
        description="Predict and explain every row of a Parquet or CSV table on a Dask cluster, "
        "with a bundle from the BentoML model store (the same answers as the service's /predict).",
    )
    p.add_argument("--bundle", required=True, help="model-store tag, e.g. breast_cancer_svc:latest")
    p.add_argument(
        "--input", required=True, help="Parquet or CSV file, folder or glob; local or an fsspec URL"
    )
    p.add_argument("--output", required=True, help="folder for the Parquet dataset and summary.json")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:port)")
    where.add_argument("--workers", type=int, help="worker processes of a local cluster (default: the cores)")
    p.add_argument(
        "--partition-rows",
        type=int,
        default=DEFAULT_PARTITION_ROWS,
        help=f"rows per Parquet partition ({DEFAULT_PARTITION_ROWS:,}); a CSV file is one",
    )
    p.add_argument("--id-column", help="input column to identify rows by (default: row_id, the position)")
    p.add_argument(
        "--keep", nargs="*", default=[], metavar="COLUMN", help="input columns to copy to the output"
    )
    p.add_argument("--level", choices=[str(v) for v in Level], default=str(Level.RAW))
    p.add_argument("--target", default="predicted", help="predicted, all, or one class (name or label)")
    p.add_argument("--top-k", type=int, help="keep the k largest attributions per row and their rest's sum")
    p.add_argument(
        "--on-error",
        choices=[str(v) for v in OnError],
        default=str(OnError.FAIL),
        help="a row the schema rejects: stop the job (fail) or write it with its message (skip)",
    )
    p.add_argument("--resume", action="store_true", help="finish an interrupted job in --output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        options = ExplainOptions(
            level=Level(args.level),
            target=args.target,
            top_k=args.top_k,
            keep=tuple(args.keep),
            id_column=args.id_column,
            on_error=OnError(args.on_error),
        )
        result = explain_table(
            args.bundle,
            args.input,
            args.output,
            options=options,
            scheduler=args.scheduler,
            workers=args.workers,
            partition_rows=args.partition_rows,
            resume=args.resume,
            progress=not args.quiet,
        )
    except (BatchError, ScoringError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    s = result.summary
    brief = {
        k: s[k]
        for k in (
            "rows",
            "explained",
            "skipped",
            "partitions",
            "partitions_run",
            "seconds",
            "rows_per_second",
        )
    }
    print(
        json.dumps(
            {
                "output": result.output,
                "bundle": s["bundle"]["tag"],
                **brief,
                "error_quantiles": s["error_quantiles"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
