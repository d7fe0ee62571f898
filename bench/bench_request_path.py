"""The request path against BentoML's floor and against the code before the one-pass change, in
one run, phases interleaved, server CPU per request read from /proc.

    .venv/bin/python -m bench.bench_request_path [--bundle breast_cancer_svc:latest]
        [--before 6debd09] [--seconds 30] [--rounds 3] [--write bench/RESULTS.md]

Three servers, one worker each, on 127.0.0.1:
- `floor`: bench.floor_service, a minimal BentoML service of /predict's shape that computes
  nothing (its answer is the served one for one row, repeated);
- `served`: this tree's service, serving `--bundle`;
- `before`: the service as it was at commit `--before` (a git worktree of it in a temporary
  folder, with uvloop and httptools hidden, as that commit's lock had neither), serving a bundle
  trained by that commit's own training code (bundle formats differ across commits).
`served` and `before` run with the default refinement off (REFINE_MAX_MS=0: the request path
alone); `served, default refinement` is this tree's service as deployed (refinement spends up to
REFINE_MAX_MS per row on rows out of range or stated far less certain than usual). Each phase
sends requests one at a time (concurrency 1): one row, then 32 rows; every phase is measured in
`--rounds` slices taken in turn. Reported: server CPU ms per request (user + system of
the server's process tree), rows/s, p50/p99 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_service import (
    ROOT,
    Phase,
    _figure,
    load_stored,
    request_bodies,
    run_phase,
    served,
    wait_ready,
)
from bench.common import publish

SECTION = "bench_request_path"
BEFORE = "6debd09"  # the last commit before issue 13's one-pass request path
TARGET_CPU_RATIO = 2.0  # served CPU per single-row request, at most this many times the floor's
TARGET_SPEEDUP_32 = 2.5  # 32-row requests: rows/s at least this many times the before code's
HIDDEN = ("uvloop", "httptools")


def hide_packages(folder: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes `import uvloop` / `import httptools` fail, so
    uvicorn's "auto" falls back to asyncio and h11 as it did before they were in the lock."""
    for name in HIDDEN:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "__init__.py").write_text(f'raise ImportError("{name} hidden by the bench")\n')
    return folder


def before_tree(rev: str, scratch: Path) -> Path:
    tree = scratch / "before"
    add = ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), rev]
    subprocess.run(add, check=True, capture_output=True)
    return tree


def train_before(tree: Path, env: dict[str, str], name: str) -> str:
    """The default bundle trained by the before commit's own code; its tag."""
    print(f"training the default bundle with the code at {tree.name} ({name}) ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "training", "--name", name, "--no-build", "--quiet"],
        cwd=tree,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return f"{name}:latest"


IN_RANGE = "1 row within the training range"
IN_RANGE_32 = "32 rows within the training range"


def within_range(bundle: Any, bodies: list[bytes]) -> list[bytes]:
    """The single-row bodies whose every value lies within what training saw."""
    from scoring.support import outside_schema

    schema = bundle.schema
    return [b for b in bodies if not outside_schema(schema, schema.validate(json.loads(b)["rows"])).any()]


def one_row_answer(url: str, body: bytes) -> dict[str, object]:
    import httpx

    r = httpx.post(url + "/predict", content=body, headers={"content-type": "application/json"}, timeout=60)
    r.raise_for_status()
    return dict(r.json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_request_path", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--bundle", default="breast_cancer_svc:latest", help="model-store tag to serve")
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with ('' skips it)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per phase (all rounds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=20000, help="cap per phase")
    parser.add_argument("--write", type=Path, help="append (or replace) this bench's section in this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

    bundle, tag = load_stored(args.bundle)
    one_row, many, _ = request_bodies(bundle, tag)
    inside = within_range(bundle, one_row)
    rows_inside = [json.loads(b)["rows"][0] for b in inside]
    many_inside = [
        json.dumps({"rows": rows_inside[i : i + 32]}).encode() for i in range(0, len(inside) - 31, 32)
    ]
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-request-path-") as scratch_name:
        scratch = Path(scratch_name)
        tree = before_tree(args.before, scratch) if args.before else None
        try:
            with contextlib.ExitStack() as stack:
                off = {"REFINE_MAX_MS": "0"}  # the request path alone (refinement: served, default)
                url, proc = stack.enter_context(
                    served("service:ExplainedModel", {"BUNDLE": tag, **off}, scratch / "served.log")
                )
                servers = {"served": (url, proc, scratch / "served.log")}
                wait_ready(url, proc, scratch / "served.log")
                template = scratch / "one_row.json"
                template.write_text(json.dumps(one_row_answer(url, one_row[0])))
                url, proc = stack.enter_context(
                    served(
                        "bench.floor_service:Floor", {"FLOOR_TEMPLATE": str(template)}, scratch / "floor.log"
                    )
                )
                servers["floor"] = (url, proc, scratch / "floor.log")
                log = scratch / "default.log"
                url, proc = stack.enter_context(served("service:ExplainedModel", {"BUNDLE": tag}, log))
                servers["served, default refinement"] = (url, proc, log)
                if tree is not None:
                    hidden = hide_packages(scratch / "hidden")
                    env = {"PYTHONPATH": f"{hidden}:{tree}"}
                    before_tag = train_before(tree, env, "bench_before_svc")
                    log = scratch / "before.log"
                    env = {**env, "BUNDLE": before_tag, **off}
                    url, proc = stack.enter_context(served("service:ExplainedModel", env, log, cwd=tree))
                    servers["before"] = (url, proc, log)
                for url, proc, log in servers.values():
                    wait_ready(url, proc, log)
                plan = [
                    (server, label, bodies, n)
                    for label, bodies, n in (("1 row", one_row, 1), ("32 rows", many, 32))
                    for server in ("floor", "served", "served, default refinement", "before")
                    if server in servers
                ]
                plan += [
                    (name, label, bodies, n)
                    for label, bodies, n in ((IN_RANGE, inside, 1), (IN_RANGE_32, many_inside, 32))
                    for name in ("served", "before")
                    if name in servers
                ]
                totals: dict[int, Phase] = {}
                for r in range(args.rounds):
                    print(f"round {r + 1} of {args.rounds}", flush=True)
                    for i, (server, label, bodies, n) in enumerate(plan):
                        url, proc, _ = servers[server]
                        phase = run_phase(
                            f"{server}, {label}",
                            url,
                            proc,
                            bodies,
                            concurrency=1,
                            rows=n,
                            seconds=args.seconds / args.rounds,
                            max_requests=args.max_requests,
                        )
                        p = asyncio.run(phase)
                        cpu = _figure(1000 * p.cpu_seconds / max(p.requests, 1))
                        print(
                            f"  {p.name}: {cpu} CPU ms/request, {_figure(p.rows_per_second)} rows/s",
                            flush=True,
                        )
                        totals[i] = totals[i] + p if i in totals else p
                phases = {f"{plan[i][0]}, {plan[i][1]}": totals[i] for i in totals}
        finally:
            if tree is not None:
                remove = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)]
                subprocess.run(remove, check=False, capture_output=True)

    def cpu_per_request(p: Phase) -> float:
        return 1000 * p.cpu_seconds / p.requests if p.requests else float("nan")

    lines = [
        f"## The request path against BentoML's floor: `{tag}` ({bundle.explainer.method} explainer)",
        "",
        f"`python -m bench.bench_request_path --bundle {args.bundle} --before {args.before or ''} "
        f"--seconds {args.seconds:g} --rounds {args.rounds}` on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, one worker per server, loopback HTTP, "
        f"concurrency 1, phases in {args.rounds} interleaved slices; 1-min load average {load_before:.1f} at "
        "the start. `floor`: a BentoML service of /predict's shape computing nothing; `before`: the service "
        f"at {args.before} (without uvloop/httptools, as its lock was) on a bundle its own code trained; "
        "`served` and `before` with the default refinement off (REFINE_MAX_MS=0), `served, default "
        "refinement` as deployed.",
        "",
        "| phase | requests | server CPU ms/request | rows/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in phases.items():
        lines.append(
            f"| {name} | {p.requests} | {_figure(cpu_per_request(p))} | {_figure(p.rows_per_second)} "
            f"| {_figure(p.percentile_ms(50))} | {_figure(p.percentile_ms(99))} | {p.errors} |"
        )
    lines.append("")
    floor = phases["floor, 1 row"]

    def cpu_verdict(phase: Phase) -> str:
        ratio = cpu_per_request(phase) / cpu_per_request(floor)
        met = "met" if ratio <= TARGET_CPU_RATIO else "not met"
        return (
            f"**{_figure(ratio)}x** the floor's CPU per request (target at most {TARGET_CPU_RATIO:g}x: {met})"
        )

    def speed_verdict(label: str) -> str:
        speedup = phases[f"served, {label}"].rows_per_second / phases[f"before, {label}"].rows_per_second
        met = "met" if speedup >= TARGET_SPEEDUP_32 else "not met"
        return (
            f"**{_figure(speedup)}x** the rows/s of the code at {args.before} "
            f"(target at least {TARGET_SPEEDUP_32:g}x: {met})"
        )

    within = phases[f"served, {IN_RANGE}"]
    compared = f"before, {IN_RANGE_32}" in phases
    lines.append(
        f"- **The request path** ({len(inside)} of the {len(one_row)} held-out rows, those within the "
        f"training range): one row {cpu_verdict(within)}, p99 {_figure(within.percentile_ms(99))} ms"
        + (f"; 32 rows {speed_verdict(IN_RANGE_32)}." if compared else ".")
    )
    ours = phases["served, 1 row"]
    before_ratio = ""
    if "before, 1 row" in phases:
        ratio = cpu_per_request(phases["before, 1 row"]) / cpu_per_request(floor)
        before_ratio = f" (the code at {args.before}: {_figure(ratio)}x)"
    lines.append(
        f"- **All {len(one_row)} held-out rows**, {len(one_row) - len(inside)} of them with a feature "
        "outside the training range, which the amortized explainer checks with sampled model "
        f"evaluations (issue 12; the code at {args.before} made no such check): one row "
        f"{cpu_verdict(ours)}{before_ratio}, p99 {_figure(ours.percentile_ms(99))} ms"
        + (f"; 32 rows {speed_verdict('32 rows')}." if "before, 32 rows" in phases else ".")
    )
    text = "\n".join(lines)
    publish(text, args.write, f"{SECTION}:{tag.split(':')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
