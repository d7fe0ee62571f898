"""explain_table on a local Dask cluster: the summary, CSV input, resume, and a bundle that does
not verify (on the client, and on a worker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch import BatchError, ExplainOptions, RowError, explain_partition, explain_table
from batch.table import read_stored_bundle
from batch.workers import BundlePlugin
from scoring.errors import BundleError
from tests.batch.answers import assert_additive, by_id
from tests.batch.conftest import built, numbers, read_output, stored

pytestmark = pytest.mark.slow  # a local Dask cluster of two worker processes


def worker_loads() -> list[str]:
    """The digests this worker process loaded (run on the worker: imported there)."""
    from batch.workers import LOADS

    return list(LOADS)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        yield client


def test_a_table_is_explained_with_its_summary(store: Path, tmp_path: Path, cluster: Any) -> None:
    tag = stored("amortized")
    X = numbers(built("amortized"), 900)
    X.to_parquet(tmp_path / "table.parquet", row_group_size=250)
    result = explain_table(
        tag,
        str(tmp_path / "table.parquet"),
        str(tmp_path / "out"),
        scheduler=cluster.scheduler.address,
        partition_rows=200,
        progress=False,
    )
    out = by_id(read_output(tmp_path / "out"))
    assert out["row_id"].tolist() == list(range(900))
    reference = explain_partition(built("amortized"), X)
    pd.testing.assert_frame_equal(out, reference, check_exact=True)
    assert_additive(out)
    s = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert s == result.summary
    assert (s["rows"], s["explained"], s["skipped"], s["partitions"]) == (900, 900, 0, 5)
    assert s["bundle"]["tag"] == tag and len(s["bundle"]["manifest_sha256"]) == 64
    e = built("amortized").explain(X)
    np.testing.assert_allclose(s["global_importance"]["mean_abs"], np.abs(e.values).mean(axis=0), rtol=1e-12)
    assert s["error_quantiles"]["p50"] > 0
    assert (tmp_path / "out" / "_global_importance.png").read_bytes()[:4] == b"\x89PNG"
    # every worker loaded the bundle once, however many partitions it ran
    loads = cluster.run(worker_loads)
    assert all(v.count(s["bundle"]["manifest_sha256"]) == 1 for v in loads.values())


def test_csv_with_bad_rows_fails_or_skips(store: Path, tmp_path: Path, cluster: Any) -> None:
    tag = stored("mixed")
    from tests.service.bundles import mixed_frame

    X = mixed_frame(120, seed=4)[0]
    X["customer"] = [f"c{i:03d}" for i in range(120)]
    X.loc[[17, 90], "color"] = ["purple", "teal"]
    for part in range(3):
        X.iloc[part * 40 : part * 40 + 40].to_csv(tmp_path / f"t{part}.csv", index=False)
    with pytest.raises(RowError) as caught:
        explain_table(
            tag,
            str(tmp_path / "t*.csv"),
            str(tmp_path / "fail"),
            scheduler=cluster.scheduler.address,
            progress=False,
        )
    assert caught.value.field == "color" and caught.value.source in ("t0.csv", "t2.csv")
    options = ExplainOptions(on_error="skip", id_column="customer", keep=("size",), top_k=2)
    result = explain_table(
        tag,
        str(tmp_path / "t*.csv"),
        str(tmp_path / "skip"),
        options=options,
        scheduler=cluster.scheduler.address,
        progress=False,
    )
    assert (result.summary["rows"], result.summary["skipped"], result.summary["partitions"]) == (120, 2, 3)
    out = read_output(tmp_path / "skip").set_index("customer")
    assert sorted(out.index[out["error_message"].notna()]) == ["c017", "c090"]
    assert "unseen category 'teal'" in out.loc["c090", "error_message"]
    assert out["size"].equals(X.set_index("customer")["size"].loc[out.index])


def test_resume_redoes_only_missing_partitions(store: Path, tmp_path: Path, cluster: Any) -> None:
    tag = stored("logistic")
    X = numbers(built("logistic"), 600)
    X.to_parquet(tmp_path / "t.parquet")
    args = (tag, str(tmp_path / "t.parquet"), str(tmp_path / "out"))
    kw = {"scheduler": cluster.scheduler.address, "partition_rows": 100, "progress": False}
    explain_table(*args, **kw)
    first = by_id(read_output(tmp_path / "out"))
    with pytest.raises(BatchError, match="not empty"):
        explain_table(*args, **kw)
    files = sorted((tmp_path / "out").glob("part-*.parquet"))
    kept = {f.name: f.stat().st_mtime_ns for f in files[1:]}
    files[0].unlink()
    (tmp_path / "out" / ".tmp-deadbeef-part-000000.parquet").write_bytes(b"half a file")
    again = explain_table(*args, resume=True, **kw)
    assert (again.summary["partitions_run"], again.summary["rows"]) == (1, 600)
    assert {f.name: f.stat().st_mtime_ns for f in sorted((tmp_path / "out").glob("part-*"))[1:]} == kept
    assert not list((tmp_path / "out").glob(".tmp-*"))
    pd.testing.assert_frame_equal(by_id(read_output(tmp_path / "out")), first, check_exact=True)
    with pytest.raises(BatchError, match="another job"):
        explain_table(*args, resume=True, options=ExplainOptions(top_k=1), **kw)


def test_a_tampered_bundle_fails_on_the_client_and_on_workers(
    store: Path, tmp_path: Path, cluster: Any
) -> None:
    tag = stored("logistic")
    ok = read_stored_bundle(tag)
    # a worker verifies what it receives: one changed byte, and registering the plugin fails
    files = dict(ok.files)
    name = next(f for f in files if f.startswith("explainer/"))
    files[name] = files[name] + b" "
    with pytest.raises(BundleError, match="modified"):
        cluster.register_plugin(BundlePlugin(files, ok.manifest_sha256, tag))
    import bentoml

    folder = Path(bentoml.models.get(tag).path)
    (folder / "schema.json").write_text((folder / "schema.json").read_text() + " ")
    numbers(built("logistic"), 10).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(BundleError, match=r"schema\.json"):
        explain_table(
            tag,
            str(tmp_path / "t.parquet"),
            str(tmp_path / "out"),
            scheduler=cluster.scheduler.address,
            progress=False,
        )


def test_the_command_names_a_bad_row_and_exits_2(
    store: Path, tmp_path: Path, cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from batch.__main__ import main

    tag = stored("logistic")
    X = numbers(built("logistic"), 50).astype({"x3": object})
    X.loc[31, "x3"] = "abc"
    X.to_csv(tmp_path / "rows.csv", index=False)
    common = [
        "--bundle",
        tag,
        "--input",
        str(tmp_path / "rows.csv"),
        "--scheduler",
        cluster.scheduler.address,
    ]
    assert main([*common, "--output", str(tmp_path / "a"), "--quiet"]) == 2
    assert "rows.csv, row 31, feature 'x3': expected a finite number, got 'abc'" in capsys.readouterr().err
    assert main([*common, "--output", str(tmp_path / "b"), "--quiet", "--on-error", "skip"]) == 0
    assert '"skipped": 1' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*common, "--output", str(tmp_path / "c"), "--colour", "red"])


def test_an_unreachable_scheduler_is_a_clear_error(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.server import free_port

    monkeypatch.setattr("batch.table.CONNECT_SECONDS", 1)
    tag = stored("logistic")
    numbers(built("logistic"), 10).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(BatchError, match="cannot reach the Dask scheduler"):
        explain_table(
            tag, str(tmp_path / "t.parquet"), str(tmp_path / "out"),
            scheduler=f"tcp://127.0.0.1:{free_port()}", progress=False,
        )  # fmt: skip
