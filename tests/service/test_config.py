from __future__ import annotations

import pytest

from service.config import DEFAULT_BUNDLE, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.bundle == DEFAULT_BUNDLE == "breast_cancer_svc:latest"
    assert settings == Settings()


def test_from_env() -> None:
    env = {
        "BUNDLE": "m:v",
        "MAX_ROWS": "5",
        "MAX_BODY_BYTES": "100",
        "BATCH_MAX_ROWS": "1",
        "BATCH_WAIT_MS": "2.5",
        "AUDIT_FRACTION": "0.25",
        "AUDIT_MAX_PENDING": "8",
        "AUDIT_EVALUATIONS": "1000",
    }
    assert Settings.from_env(env) == Settings("m:v", 5, 100, 1, 2.5, 0.25, 8, 1000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_ROWS", "0"),
        ("MAX_ROWS", "many"),
        ("BATCH_WAIT_MS", "-1"),
        ("AUDIT_FRACTION", "1.5"),
        ("AUDIT_MAX_PENDING", "0"),
    ],
)
def test_bad_values(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=r"MAX_ROWS|max_rows|batch_wait_ms|audit_fraction|audit_max_pending"):
        Settings.from_env({name: value})
