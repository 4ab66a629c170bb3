"""Two model versions served at once: sticky assignment, A/B routing, shadow scoring, admin."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from bundles import app_config, make_bundle
from fastapi.testclient import TestClient
from pydantic import SecretStr

from churnguard.api.app import create_app
from churnguard.api.experiment import Experiment, assignment_bucket, variant_for
from churnguard.api.schemas import EXAMPLE_CUSTOMER
from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import coerce_types
from churnguard.data.synthetic import generate_customers
from churnguard.monitoring.store import Label, MonitoringStore, PredictionRow

KEY = "experiment-key"
HEADERS = {"X-API-Key": KEY}
CUSTOMERS = [
    {k: v for k, v in r.items() if k != "Churn"}
    for r in coerce_types(generate_customers(60, seed=5)).to_dict("records")
]


# -- assignment (pure) -------------------------------------------------------------------------


@pytest.mark.unit
def test_the_same_customer_always_gets_the_same_variant() -> None:
    ids = [f"C-{i:05d}" for i in range(500)]
    first = [variant_for(i, 0.3, "salt") for i in ids]
    assert [variant_for(i, 0.3, "salt") for i in ids] == first
    assert set(first) == {"champion", "challenger"}


@pytest.mark.unit
@pytest.mark.parametrize("share", [0.05, 0.1, 0.5, 0.9])
def test_the_observed_split_matches_the_share_within_a_binomial_bound(share: float) -> None:
    n = 10_000
    challengers = sum(
        variant_for(f"cust-{i}", share, "churnguard") == "challenger" for i in range(n)
    )
    bound = 4 * math.sqrt(n * share * (1 - share))
    assert abs(challengers - n * share) <= bound, (challengers, n * share, bound)


@pytest.mark.unit
def test_share_zero_and_one_are_all_champion_and_all_challenger() -> None:
    ids = [f"x{i}" for i in range(200)]
    assert {variant_for(i, 0.0, "s") for i in ids} == {"champion"}
    assert {variant_for(i, 1.0, "s") for i in ids} == {"challenger"}


@pytest.mark.unit
def test_a_new_salt_reshuffles_the_assignment() -> None:
    ids = [f"x{i}" for i in range(1000)]
    a = [assignment_bucket(i, "one") < 0.5 for i in ids]
    b = [assignment_bucket(i, "two") < 0.5 for i in ids]
    assert 300 < sum(x != y for x, y in zip(a, b, strict=True)) < 700


@pytest.mark.unit
def test_a_record_without_customer_id_is_assigned_by_request_id() -> None:
    got = {rid: variant_for(None, 0.5, "s", rid) for rid in (f"req-{i}" for i in range(200))}
    assert set(got.values()) == {"champion", "challenger"}
    assert all(variant_for(None, 0.5, "s", rid) == v for rid, v in got.items())
    assert all(
        variant_for(None, 0.5, "s", rid) == variant_for(f"request:{rid}", 0.5, "s") for rid in got
    )


@pytest.mark.unit
@pytest.mark.parametrize("share", [-0.1, 1.5, math.nan])
def test_a_share_outside_zero_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="within"):
        variant_for("x", share, "s")


@pytest.mark.unit
def test_outside_ab_mode_everyone_gets_the_champion() -> None:
    for mode in ("single", "shadow"):
        experiment = Experiment(mode=mode, share=1.0)  # type: ignore[arg-type]
        assert experiment.assign("C-1", "r") == "champion"
    assert Experiment(mode="ab", share=1.0).assign("C-1", "r") == "challenger"


# -- the service -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def challenger_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second model whose probabilities differ from the shared bundle's."""
    path, _ = make_bundle(tmp_path_factory.mktemp("challenger") / "model", seed=7, n_estimators=8)
    return path


def _config(
    bundle: tuple[Path, Any], challenger: Path | str, tmp_path: Path, **serving: Any
) -> ChurnguardConfig:
    config = app_config(
        str(bundle[0]),
        tmp_path / "serving.db",
        challenger_uri=str(challenger),
        api_key=SecretStr(KEY),
        **serving,
    )
    monitoring = config.monitoring.model_copy(
        update={"spool_dir": tmp_path / "spool", "log_flush_seconds": 0.05}
    )
    return config.model_copy(update={"monitoring": monitoring})


def _probabilities(client: TestClient, record: dict[str, Any]) -> tuple[float, float]:
    """(champion, challenger) probability of ``record``, straight from the loaded scorers."""
    holder = client.app.state.slot.holder  # type: ignore[attr-defined]
    values = {**record, "customerID": record.get("customerID")}
    return (
        holder.served.scorer.record_probability(values),
        holder.challenger.scorer.record_probability(values),
    )


@pytest.mark.integration
def test_ab_mode_routes_each_customer_to_its_sticky_variant(
    bundle: tuple[Path, Any], challenger_bundle: Path, tmp_path: Path
) -> None:
    config = _config(bundle, challenger_bundle, tmp_path, experiment_mode="ab", ab_share=0.5)
    with TestClient(create_app(config)) as client:
        seen = set()
        for customer in CUSTOMERS[:30]:
            expected = variant_for(customer["customerID"], 0.5, config.serving.assignment_salt)
            body = client.post("/predict", json=customer).json()
            champion, challenger = _probabilities(client, customer)
            assert champion != challenger
            assert body["variant"] == expected
            assert body["churn_probability"] == (champion if expected == "champion" else challenger)
            seen.add(expected)
            again = client.post("/predict", json=customer).json()
            assert again["variant"] == expected  # sticky
        assert seen == {"champion", "challenger"}

        batch = client.post("/predict/batch", json={"records": CUSTOMERS[:30]}).json()
        singles = [client.post("/predict", json=c).json() for c in CUSTOMERS[:30]]
        assert [p["customerID"] for p in batch["predictions"]] == [
            c["customerID"] for c in CUSTOMERS[:30]
        ]
        assert [p["variant"] for p in batch["predictions"]] == [s["variant"] for s in singles]
        for got, single in zip(batch["predictions"], singles, strict=True):
            assert got["churn_probability"] == pytest.approx(single["churn_probability"], abs=1e-9)
            assert got["model_version"] == single["model_version"]
        metrics = client.get("/metrics").text
        assert 'churnguard_variant_latency_seconds_count{variant="challenger"}' in metrics
        assert 'variant="challenger"' in metrics.split("churnguard_churn_probability_bucket", 1)[1]
    frame = MonitoringStore(config.serving.store_url).recent_predictions(include_shadow=True)
    batch_rows = frame[frame["endpoint"] == "/predict/batch"].sort_values("row_index")
    assert batch_rows["row_index"].tolist() == list(range(30))
    assert batch_rows["variant"].tolist() == [s["variant"] for s in singles]
    assert not frame["shadow"].any()


@pytest.mark.integration
def test_shadow_mode_answers_with_the_champion_and_logs_both(
    bundle: tuple[Path, Any], challenger_bundle: Path, tmp_path: Path
) -> None:
    config = _config(bundle, challenger_bundle, tmp_path, experiment_mode="shadow")
    with TestClient(create_app(config)) as client:
        model = client.get("/model").json()
        assert model["experiment"]["mode"] == "shadow"
        assert model["experiment"]["challenger_version"] == "bundle"
        answers = []
        for customer in CUSTOMERS[:5]:
            body = client.post("/predict", json=customer).json()
            champion, _ = _probabilities(client, customer)
            assert body["variant"] == "champion"
            assert body["churn_probability"] == champion
            answers.append(body)
        batch = client.post("/predict/batch", json={"records": CUSTOMERS[5:9]}).json()
        assert {p["variant"] for p in batch["predictions"]} == {"champion"}
        challenger_probability = _probabilities(client, CUSTOMERS[0])[1]
    # Leaving the client stops the shadow pool, then the log: every row is written.
    store = MonitoringStore(config.serving.store_url)
    served = store.recent_predictions()
    everything = store.recent_predictions(include_shadow=True)
    assert len(served) == 9
    assert not served["shadow"].any()
    shadow = everything[everything["shadow"]]
    assert len(shadow) == 9
    assert set(shadow["variant"]) == {"challenger"}
    first = shadow[shadow["customer_id"] == CUSTOMERS[0]["customerID"]]
    assert first["churn_probability"].tolist() == [challenger_probability]
    # A label joins both rows of the record: the comparison is paired.
    store.add_labels([Label(churn=True, request_id=r["request_id"]) for r in answers[:2]])
    labeled = store.labeled_predictions()
    assert len(labeled) == 4
    assert labeled.groupby("request_key")["shadow"].apply(sorted).tolist() == [[False, True]] * 2
    store.close()


@pytest.mark.integration
def test_a_failing_challenger_never_changes_a_shadow_answer(
    bundle: tuple[Path, Any],
    challenger_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config(bundle, challenger_bundle, tmp_path, experiment_mode="shadow")
    with TestClient(create_app(config)) as client:
        expected = [
            client.post("/predict", json=c).json()["churn_probability"] for c in CUSTOMERS[:4]
        ]
        scorer = client.app.state.slot.holder.challenger.scorer  # type: ignore[attr-defined]

        def boom(*_: Any, **__: Any) -> Any:
            raise RuntimeError("challenger exploded")

        monkeypatch.setattr(scorer, "record_probability", boom)
        monkeypatch.setattr(scorer, "columns_probability", boom)
        for customer, probability in zip(CUSTOMERS[:4], expected, strict=True):
            response = client.post("/predict", json=customer)
            assert response.status_code == 200
            assert response.json()["churn_probability"] == probability
        batch = client.post("/predict/batch", json={"records": CUSTOMERS[:4]})
        assert batch.status_code == 200
        assert [p["churn_probability"] for p in batch.json()["predictions"]] == pytest.approx(
            expected
        )
        client.app.state.shadow.shutdown()  # type: ignore[attr-defined]  # wait for the jobs
        metrics = client.get("/metrics").text
    assert "churnguard_shadow_errors_total 5.0" in metrics


@pytest.mark.integration
def test_the_admin_route_switches_modes_and_refuses_without_a_challenger(
    bundle: tuple[Path, Any], challenger_bundle: Path, tmp_path: Path
) -> None:
    config = _config(bundle, challenger_bundle, tmp_path)
    record = CUSTOMERS[0]
    with TestClient(create_app(config)) as client:
        assert client.get("/model").json()["experiment"]["mode"] == "single"
        assert client.post("/admin/experiment", json={"mode": "ab"}).status_code == 401
        bad = client.post("/admin/experiment", json={"mode": "ab", "ab_share": 2}, headers=HEADERS)
        assert bad.status_code == 422
        switched = client.post(
            "/admin/experiment", json={"mode": "ab", "ab_share": 1.0}, headers=HEADERS
        )
        assert switched.status_code == 200
        assert switched.json()["mode"] == "ab"
        assert switched.json()["challenger_version"] == "bundle"
        _, challenger = _probabilities(client, record)
        body = client.post("/predict", json=record).json()
        assert (body["variant"], body["churn_probability"]) == ("challenger", challenger)
        reloaded = client.post("/admin/reload", headers=HEADERS).json()
        assert reloaded["experiment"]["mode"] == "ab"  # a reload keeps the runtime mode
        assert client.post("/predict", json=record).json()["variant"] == "challenger"
        back = client.post("/admin/experiment", json={"mode": "single"}, headers=HEADERS)
        assert back.json()["mode"] == "single"
        assert client.post("/predict", json=record).json()["variant"] == "champion"

    broken = _config(bundle, tmp_path / "no-such-model", tmp_path / "other")
    with TestClient(create_app(broken)) as client:
        refused = client.post("/admin/experiment", json={"mode": "shadow"}, headers=HEADERS)
        assert refused.status_code == 409
        assert "challenger" in refused.json()["detail"]
        assert client.get("/model").json()["experiment"]["mode"] == "single"


@pytest.mark.integration
def test_a_challenger_that_fails_to_load_leaves_the_champion_serving(
    bundle: tuple[Path, Any], tmp_path: Path
) -> None:
    config = _config(bundle, tmp_path / "missing", tmp_path, experiment_mode="shadow")
    with TestClient(create_app(config)) as client:
        assert client.get("/ready").status_code == 200
        experiment = client.get("/model").json()["experiment"]
        assert experiment["mode"] == "single"
        assert experiment["challenger_version"] is None
        assert "missing" in experiment["challenger_reason"]
        assert client.post("/predict", json=EXAMPLE_CUSTOMER).json()["variant"] == "champion"


@pytest.mark.integration
def test_single_mode_answers_as_before_with_the_champion(
    bundle: tuple[Path, Any], tmp_path: Path
) -> None:
    config = _config(bundle, tmp_path / "never-loaded", tmp_path)
    with TestClient(create_app(config)) as client:
        assert client.app.state.slot.holder.challenger is None  # type: ignore[attr-defined]
        body = client.post("/predict", json=EXAMPLE_CUSTOMER).json()
        assert body["variant"] == "champion"
        assert body["model_version"] == "bundle"
        batch = client.post("/predict/batch", json={"records": [EXAMPLE_CUSTOMER] * 2}).json()
        assert [p["variant"] for p in batch["predictions"]] == ["champion"] * 2
        assert batch["predictions"][0]["churn_probability"] == pytest.approx(
            body["churn_probability"]
        )


# -- the paired label join, on sqlite and PostgreSQL ---------------------------------------------


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    """The shared empty store (tests/conftest.py), on sqlite and PostgreSQL."""
    return monitoring_store


def _row(
    request_id: str, index: int, customer: str | None, p: float, **extra: Any
) -> PredictionRow:
    from datetime import UTC, datetime

    features = {k: v for k, v in CUSTOMERS[index].items() if k != "customerID"}
    row: PredictionRow = {
        "record_id": uuid.uuid4().hex,
        "request_id": request_id,
        "row_index": index,
        "customer_id": customer,
        "model_version": "3",
        "model_alias": "champion",
        "created_at": datetime(2026, 3, 1, tzinfo=UTC),
        "features": features,
        "churn_probability": p,
        "churn": p >= 0.5,
        "latency_ms": 1.0,
        "endpoint": "/predict",
    }
    return row | extra  # type: ignore[return-value]


def test_a_label_joins_the_served_row_and_its_shadow_row(store: MonitoringStore) -> None:
    shadow = {"variant": "challenger", "shadow": True, "model_version": "4"}
    store.write_predictions(
        [
            _row("one", 0, None, 0.2),
            _row("one", 0, None, 0.6, **shadow),
            _row("batch", 0, "C-1", 0.3),
            _row("batch", 1, "C-2", 0.4),
            _row("batch", 0, "C-1", 0.7, **shadow),
            _row("batch", 1, "C-2", 0.8, **shadow),
            _row("ab", 0, "C-3", 0.9, variant="challenger", model_version="4"),
        ]
    )
    store.add_labels(
        [
            Label(churn=True, request_id="one"),  # one served row: the shadow copy must not hide it
            Label(churn=False, request_id="batch", customer_id="C-2"),
            Label(churn=True, customer_id="C-3"),
        ]
    )
    labeled = store.labeled_predictions()
    got = {
        (r.request_key, r.variant, bool(r.shadow), r.model_version, r.churn_probability, r.actual)
        for r in labeled.itertuples()
    }
    assert got == {
        ("one#0", "champion", False, "3", 0.2, 1),
        ("one#0", "challenger", True, "4", 0.6, 1),
        ("batch#1", "champion", False, "3", 0.4, 0),
        ("batch#1", "challenger", True, "4", 0.8, 0),
        ("ab#0", "challenger", False, "4", 0.9, 1),
    }
    assert store.recent_predictions()["shadow"].tolist() == [False] * 4
    assert len(store.recent_predictions(include_shadow=True)) == 7
