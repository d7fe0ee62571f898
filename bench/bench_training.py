"""A large table through `python -m training`, as a user would run it: the CSV default model
(histogram gradient boosting, TreeSHAP) and a black box (`--model svc`), on a fresh model store.

    python -m bench.bench_training [--rows 50000] [--features 20] [--svc-rows N] [--write]

Records, for each run: wall time, the model's fit, the explainer's fit, the rows the explainer
and global importance used, and for the black box the estimates the CLI printed before its fits
beside the times measured. `--svc-rows` runs the black box on the first N rows only (its fit
grows with the square of the rows; the estimate says how long the full table would take).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import markdown_table, progress, write_section
from tests.tables import user_table

RESULTS = Path(__file__).with_name("RESULTS.md")


def run_cli(csv: Path, home: Path, *extra: str) -> dict[str, object]:
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    env.pop("BUNDLE", None)
    command = [sys.executable, "-m", "training", "--csv", str(csv), "--target", "churned", "--quiet", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    out = done.stdout

    def find(pattern: str) -> str:
        match = re.search(pattern, out)
        return match.group(1) if match else "?"

    return {
        "wall_s": wall,
        "model_fit_s": float(find(r"\(fit ([0-9.]+) s\)")),
        "explainer": find(r"explainer\s+(\w+)"),
        "explainer_fit_s": float(find(r"fit explainer ([0-9.]+) s")),
        "explainer_rows": find(r"fitted on (\d+ of \d+) training rows"),
        "importance_rows": find(r"mean \|value\|, (\d+) rows"),
        "warnings": [line for line in done.stderr.splitlines() if line.startswith("warning:")],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_training")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--svc-rows", type=int, default=None, help="rows for the svc run (default: all)")
    parser.add_argument("--fit-evaluations", type=int, default=None, help="for the svc run's explainer")
    parser.add_argument("--write", action="store_true", help=f"write the figures into {RESULTS.name}")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-training-") as scratch:
        tmp = Path(scratch)
        table = user_table(args.rows, n_numbers=args.features - 3, seed=0)
        table.to_csv(tmp / "large.csv", index=False)
        svc_rows = args.svc_rows or args.rows
        table.iloc[:svc_rows].to_csv(tmp / "large_svc.csv", index=False)
        progress(f"CSV default model on {args.rows:,} rows x {args.features} features")
        default = run_cli(tmp / "large.csv", tmp / "home", "--no-build")
        progress(f"--model svc on {svc_rows:,} rows")
        extra = ["--model", "svc", "--no-build"]
        if args.fit_evaluations:
            extra += ["--fit-evaluations", str(args.fit_evaluations)]
        svc = run_cli(tmp / "large_svc.csv", tmp / "home", *extra)

    rows = []
    for name, run, n in (
        ("CSV default (hist_gradient_boosting)", default, args.rows),
        ("--model svc", svc, svc_rows),
    ):
        rows.append(
            [
                name,
                f"{n:,}",
                f"{run['wall_s']:.0f}",
                f"{run['model_fit_s']:.1f}",
                run["explainer"],
                f"{run['explainer_fit_s']:.1f}",
                run["explainer_rows"],
                run["importance_rows"],
            ]
        )
    headers = [
        "run",
        "rows",
        "wall s",
        "model fit s",
        "explainer",
        "explainer fit s",
        "explainer rows",
        "importance rows",
    ]
    warnings = "\n".join(f"- `{w}`" for w in [*default["warnings"], *svc["warnings"]]) or "- none"
    text = (
        f"Command: `python -m bench.bench_training --rows {args.rows} --features {args.features}"
        + (f" --svc-rows {args.svc_rows}" if args.svc_rows else "")
        + (f" --fit-evaluations {args.fit_evaluations}" if args.fit_evaluations else "")
        + "` (generated table: numbers with gaps, a count, two text categories; 80/20 split; "
        "a fresh model store; this 2-core machine, shared with other work while it ran).\n\n"
        + markdown_table(headers, rows)
        + "\n\nWhat the CLI printed before the fits (stderr):\n\n"
        + warnings
        + "\n"
    )
    print(text)
    if args.write:
        write_section(RESULTS, "training", "## Training a large table\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
