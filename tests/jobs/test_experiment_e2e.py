"""An experiment end to end: two registered versions served in shadow mode under traffic, the
report on their labels, promotion through the gate and a rollback, each reaching the running
service by hot reload (no restart)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from churnguard.cli import main
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN

# tests/api holds the live-server helpers; its conftest puts it on sys.path only for its tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from live import API_KEY, running_server

pytestmark = pytest.mark.e2e


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def _customers(project: Path) -> pd.DataFrame:
    folder = project / "data" / "processed"
    return pd.concat(pd.read_parquet(folder / f"{n}.parquet") for n in ("validation", "test"))


def test_shadow_experiment_then_promote_and_rollback_reach_the_running_service(
    model_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _cli(capsys, "pipeline")[0] == 0  # version 1: champion
    assert _cli(capsys, "train")[0] == 0  # version 2: challenger
    store_url = f"sqlite:///{model_project / 'serving.db'}"
    env = {
        "CHURNGUARD_MLFLOW_TRACKING_URI": f"sqlite:///{model_project / 'mlflow.db'}",
        "CHURNGUARD_SERVING_EXPERIMENT_MODE": "shadow",
        "CHURNGUARD_SERVING_STORE_URL": store_url,
        "CHURNGUARD_MONITORING_SPOOL_DIR": str(model_project / "spool"),
    }
    customers = _customers(model_project)
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in customers[[ID_COLUMN, *FEATURE_COLUMNS]].to_dict("records")
    ]
    with running_server("models:/churnguard@champion", model_project / "server", env) as server:
        with server.client() as http:
            assert http.get("/model").json()["experiment"]["challenger_version"] == "2"
            answer = http.post("/predict/batch", json={"records": records}).json()
            assert {p["variant"] for p in answer["predictions"]} == {"champion"}
            assert {p["model_version"] for p in answer["predictions"]} == {"1"}
            labels = [
                {"request_id": answer["request_id"], "customerID": str(cid), "churn": bool(y)}
                for cid, y in zip(customers[ID_COLUMN], customers[TARGET_COLUMN], strict=True)
            ]
            feedback = http.post(
                "/feedback", json={"labels": labels}, headers={"X-API-Key": API_KEY}
            )
            assert feedback.status_code == 200
        time.sleep(2)  # the prediction log's writer and the shadow pool flush within a second

        code, out, err = _cli(capsys, "experiment", "report", "--store-url", store_url, "--json")
        assert code == 0, err
        assert '"paired": true' in out

        monkeypatch.setenv("CHURNGUARD_SERVING_API_KEY", API_KEY)
        code, out, err = _cli(capsys, "experiment", "promote", "--service-url", server.base_url)
        assert "PROMOTED" in out, out + err
        with server.client() as http:
            model = http.get("/model").json()
            assert (model["version"], model["experiment"]["mode"]) == ("2", "single")

        code, out, err = _cli(capsys, "rollback", "--service-url", server.base_url)
        assert code == 0, err
        assert "service reloaded: serving version 1" in out
        with server.client() as http:
            assert http.get("/model").json()["version"] == "1"
            assert http.post("/predict", json=records[0]).status_code == 200
