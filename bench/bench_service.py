"""The served endpoint against a baseline BentoML service that runs shap's KernelExplainer per
request (bench/baseline_service.py), in one run, over loopback, with bounded concurrency.

    .venv/bin/python -m bench.bench_service [--bundle breast_cancer_svc:latest] [--concurrency 8]
        [--seconds 20] [--no-baseline] [--no-unbatched] [--write bench/RESULTS.md]

The bundle is read from the BentoML model store at $BENTOML_HOME (train the default one with
`python -m training`). Each phase sends single-row requests for `--seconds` (after a warm-up) and
reports explained rows per second and p50/p99 latency; the served endpoint is also measured at
concurrency 1 (single-row latency), with batching off (BATCH_MAX_ROWS=1), and with 32-row
requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import publish

ROOT = Path(__file__).resolve().parents[1]
BENTOML = Path(sys.executable).parent / "bentoml"
SECTION = "bench_service"
TARGET_SPEEDUP = 20.0
TARGET_P99_MS = 50.0


@dataclass
class Phase:
    name: str
    concurrency: int
    rows_per_request: int
    requests: int
    seconds: float
    latencies: np.ndarray  # seconds, per request
    errors: int
    cpu_seconds: float  # user + system time of the server's process tree during the phase

    @property
    def rows(self) -> int:
        return self.requests * self.rows_per_request

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_row(self) -> float:
        return 1000 * self.cpu_seconds / self.rows if self.rows else float("nan")

    def __add__(self, other: Phase) -> Phase:
        """Two rounds of the same phase as one."""
        return Phase(
            self.name,
            self.concurrency,
            self.rows_per_request,
            self.requests + other.requests,
            self.seconds + other.seconds,
            np.concatenate([self.latencies, other.latencies]),
            self.errors + other.errors,
            self.cpu_seconds + other.cpu_seconds,
        )

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if len(self.latencies) else float("nan")


# -- servers ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(
    target: str, env: dict[str, str], log: Path, *, cwd: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    environ = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BENTOML), "serve", target, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"server not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


# -- load ------------------------------------------------------------------------------------------
def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU time (user + system) used so far by a server and its worker processes."""
    import psutil

    root = psutil.Process(process.pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


async def run_phase(
    name: str,
    url: str,
    process: subprocess.Popen[bytes],
    bodies: list[bytes],
    *,
    concurrency: int,
    rows: int,
    seconds: float,
    max_requests: int,
) -> Phase:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
        headers = {"content-type": "application/json"}
        for body in bodies[:1]:  # warm-up
            (await client.post("/predict", content=body, headers=headers)).raise_for_status()
        counter = iter(range(10**9))
        cpu_start = cpu_seconds(process)
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                i = next(counter)
                if i >= max_requests:
                    return
                t = time.perf_counter()
                r = await client.post("/predict", content=bodies[i % len(bodies)], headers=headers)
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(process) - cpu_start
    return Phase(name, concurrency, rows, len(latencies), elapsed, np.asarray(latencies), errors, cpu)


# -- data ------------------------------------------------------------------------------------------
def bench_rows(bundle: Any, n: int, seed: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    """(rows to send, training rows for the baseline's background).

    The breast-cancer data when the bundle's features are its columns (held-out rows are sent,
    the reference design's split gives x_train); else rows drawn within the schema's ranges.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    names = list(bundle.schema.names)
    data = load_breast_cancer(as_frame=True)
    if names == list(data.data.columns):
        X_train, X_test = train_test_split(data.data, test_size=0.2, random_state=0)
        rows = X_test.to_dict(orient="records")
        return [rows[i % len(rows)] for i in range(n)], X_train.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for f in bundle.schema.features:
        if f.kind in ("number", "integer") and f.minimum is not None and f.maximum is not None:
            v = rng.uniform(f.minimum, f.maximum, n)
            columns[f.name] = [int(np.rint(x)) if f.kind == "integer" else float(x) for x in v]
        elif f.kind == "boolean":
            columns[f.name] = [bool(b) for b in rng.integers(0, 2, n)]
        elif f.categories:
            columns[f.name] = [f.categories[i] for i in rng.integers(0, len(f.categories), n)]
        else:
            raise SystemExit(f"cannot make values for feature {f.name!r}")
    rows = [{k: columns[k][i] for k in names} for i in range(n)]
    numeric = all(f.kind in ("number", "integer", "boolean") for f in bundle.schema.features)
    x_train = np.array([[float(r[k]) for k in names] for r in rows]) if numeric else np.empty((0, len(names)))
    return rows, x_train


def request_bodies(bundle: Any, tag: str) -> tuple[list[bytes], list[bytes], np.ndarray]:
    """(single-row bodies, 32-row bodies, training rows for a baseline) over 256 bench rows."""
    rows, x_train = bench_rows(bundle, 256, seed=0)
    one_row = [json.dumps({"rows": [r]}).encode() for r in rows]
    many = [json.dumps({"rows": rows[i : i + 32]}).encode() for i in range(0, 256, 32)]
    print(
        f"bundle {tag}: {bundle.explainer.method} explainer, {len(bundle.schema.names)} features", flush=True
    )
    return one_row, many, x_train


def load_stored(tag: str) -> tuple[Any, str]:
    import bentoml

    from scoring.bundle import load_bundle

    model = bentoml.models.get(tag)
    return load_bundle(model.path), str(model.tag)


# -- report ----------------------------------------------------------------------------------------
def table(phases: list[Phase]) -> str:
    lines = [
        "| phase | concurrency | rows/request | requests | rows/s | p50 ms | p99 ms | server CPU ms/row "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        lines.append(
            f"| {p.name} | {p.concurrency} | {p.rows_per_request} | {p.requests} "
            f"| {_figure(p.rows_per_second)} | {_figure(p.percentile_ms(50))} "
            f"| {_figure(p.percentile_ms(99))} | {_figure(p.cpu_ms_per_row)} | {p.errors} |"
        )
    return "\n".join(lines)


def _figure(value: float) -> str:
    """A rate, time or ratio as read in a table: 0.12, 3.4, 56.7, 1,234."""
    return f"{value:.2g}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_service", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--bundle", default="breast_cancer_svc:latest", help="model-store tag to serve")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per phase (all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="slices each phase is measured in, in turn")
    parser.add_argument("--max-requests", type=int, default=5000, help="cap per phase")
    parser.add_argument("--no-baseline", action="store_true", help="skip the shap KernelExplainer service")
    parser.add_argument(
        "--no-unbatched", action="store_true", help="skip the served endpoint without batching"
    )
    parser.add_argument("--note", default="", help="a paragraph to add under the figures")
    parser.add_argument("--write", type=Path, help="append (or replace) this bench's section in this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

    bundle, tag = load_stored(args.bundle)
    one_row, many, x_train = request_bodies(bundle, tag)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-service-") as scratch:
        logs = Path(scratch)
        np.save(logs / "x_train.npy", x_train)
        env = {"BUNDLE": tag}
        with contextlib.ExitStack() as stack:
            main_url, main_proc = stack.enter_context(
                served("service:ExplainedModel", env, logs / "main.log")
            )
            servers = {"served": (main_url, main_proc, logs / "main.log")}
            if not args.no_unbatched:
                url, proc = stack.enter_context(
                    served("service:ExplainedModel", {**env, "BATCH_MAX_ROWS": "1"}, logs / "unbatched.log")
                )
                servers["unbatched"] = (url, proc, logs / "unbatched.log")
            if not args.no_baseline and len(x_train):
                url, proc = stack.enter_context(
                    served(
                        "bench.baseline_service:KernelBaseline",
                        {**env, "BASELINE_X_TRAIN": str(logs / "x_train.npy")},
                        logs / "baseline.log",
                    )
                )
                servers["baseline"] = (url, proc, logs / "baseline.log")
            for url, proc, log in servers.values():
                wait_ready(url, proc, log)

            # (name, server, bodies, concurrency, rows per request); each is measured in `rounds`
            # slices taken in turn, so that other work on the machine weighs on all of them alike
            plan = [
                ("served, 1 row", "served", one_row, 1, 1),
                ("served, 1 row", "served", one_row, args.concurrency, 1),
                ("served, 32 rows", "served", many, 1, 32),
                ("served, batching off", "unbatched", one_row, args.concurrency, 1),
                ("baseline shap.KernelExplainer", "baseline", one_row, args.concurrency, 1),
                ("baseline shap.KernelExplainer", "baseline", one_row, 1, 1),
            ]
            plan = [step for step in plan if step[1] in servers]
            totals: dict[int, Phase] = {}
            for r in range(args.rounds):
                print(f"round {r + 1} of {args.rounds}", flush=True)
                for i, (name, server, bodies, concurrency, rows_per) in enumerate(plan):
                    url, proc, _ = servers[server]
                    p = asyncio.run(
                        run_phase(
                            name, url, proc, bodies, concurrency=concurrency, rows=rows_per,
                            seconds=args.seconds / args.rounds, max_requests=args.max_requests,
                        )
                    )  # fmt: skip
                    print(
                        f"  {name}, concurrency {concurrency}: {_figure(p.rows_per_second)} rows/s, "
                        f"p50 {_figure(p.percentile_ms(50))} ms, {_figure(p.cpu_ms_per_row)} CPU ms/row",
                        flush=True,
                    )
                    totals[i] = totals[i] + p if i in totals else p
            phases = [totals[i] for i in range(len(plan))]

    served_c = next(p for p in phases if p.name == "served, 1 row" and p.concurrency == args.concurrency)
    single = next(p for p in phases if p.name == "served, 1 row" and p.concurrency == 1)
    baseline = next(
        (p for p in phases if p.name.startswith("baseline") and p.concurrency == args.concurrency), None
    )
    speedup = (
        served_c.rows_per_second / baseline.rows_per_second if baseline and baseline.rows_per_second else None
    )
    cpu_ratio = baseline.cpu_ms_per_row / served_c.cpu_ms_per_row if baseline else None
    lines = [
        f"## Service throughput: `{tag}` ({bundle.explainer.method} explainer)",
        "",
        f"`python -m bench.bench_service --bundle {args.bundle} --concurrency {args.concurrency} "
        f"--seconds {args.seconds:g} --rounds {args.rounds}` on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, one worker per server, loopback HTTP, "
        "single-row requests unless stated, each phase measured in slices taken in turn with the others; "
        f"1-min load average {load_before:.1f} at the start (other jobs share this machine, so wall-clock "
        "figures are noisy; the server CPU time per row is the steadier figure).",
        "",
        table(phases),
        "",
    ]
    if speedup is not None:
        verdict = "met" if speedup >= TARGET_SPEEDUP else "not met"
        lines.append(
            f"- explained rows/s at concurrency {args.concurrency}: **{_figure(speedup)}x** the baseline "
            f"(target {TARGET_SPEEDUP:g}x: {verdict}); "
            f"server CPU per explained row: {_figure(cpu_ratio)}x less."
        )
    p99 = single.percentile_ms(99)
    lines.append(
        f"- p99 single-row latency at concurrency 1: **{_figure(p99)} ms** "
        f"(target < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'not met'})."
    )
    if args.note:
        lines += ["", args.note]
    text = "\n".join(lines)
    publish(text, args.write, f"{SECTION}:{tag.split(':')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
