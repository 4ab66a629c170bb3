"""Hot reload of a live server while clients keep scoring.

The server serves ``current``, a symlink to one of several bundles; a test swaps the link
atomically (``os.replace``), as a deployment would replace the folder, and calls
``POST /admin/reload``. Bundles carry a manifest (version "1" or "2" and the model file's hash).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from live import (
    API_KEY,
    Bundle,
    LiveServer,
    build_bundle,
    running_server,
    train_frame,
    write_manifest,
)

from churnguard.api.schemas import EXAMPLE_CUSTOMER

pytestmark = pytest.mark.integration

KEY = {"X-API-Key": API_KEY}
CLIENT_THREADS = 4
BATCH = {"records": [EXAMPLE_CUSTOMER] * 200}


@dataclass(frozen=True)
class Models:
    """The served symlink and the bundles it can point at."""

    link: Path
    bundles: dict[str, Bundle]
    broken: dict[str, Path]


def _point(link: Path, target: Path) -> None:
    """Make ``link`` point at ``target`` in one atomic rename."""
    staged = link.with_name(f".{link.name}.next")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target, target_is_directory=True)
    staged.replace(link)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("models")
    train = train_frame()
    bundles = {
        "1": build_bundle(root / "v1", train, lightgbm={"n_estimators": 40}, version="1"),
        "2": build_bundle(
            root / "v2", train, lightgbm={"n_estimators": 150, "num_leaves": 8}, version="2"
        ),
    }
    wrong_hash = root / "wrong-hash"
    shutil.copytree(bundles["2"].path, wrong_hash)
    write_manifest(wrong_hash, version="3", model_sha256="0" * 64)
    corrupt = root / "corrupt"
    shutil.copytree(bundles["2"].path, corrupt)
    (corrupt / "churnguard_bundle.json").unlink()  # no recorded hash: the load itself must fail
    model_file = corrupt / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    link = root / "current"
    _point(link, bundles["1"].path)
    return Models(link=link, bundles=bundles, broken={"wrong-hash": wrong_hash, "corrupt": corrupt})


@pytest.fixture(scope="module")
def server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("server")
    with running_server(str(models.link), workdir) as live:
        yield live


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def serving_version_1(models: Models, http: httpx.Client) -> Iterator[None]:
    """Each test starts, and leaves the server, on version 1."""
    _point(models.link, models.bundles["1"].path)
    assert http.post("/admin/reload", headers=KEY).status_code == 200
    yield
    _point(models.link, models.bundles["1"].path)
    http.post("/admin/reload", headers=KEY)


@dataclass
class Traffic:
    """What the client threads saw: (version, probability) of each answer, and every failure."""

    answers: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def _score_until_stopped(base_url: str, traffic: Traffic, batch: bool) -> None:
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30.0) as client:
        while not traffic.stop.is_set():
            try:
                if batch:
                    response = client.post("/predict/batch", json=BATCH)
                    body = response.json()
                    answer = (body["model_version"], body["predictions"][0]["churn_probability"])
                else:
                    response = client.post("/predict", json=EXAMPLE_CUSTOMER)
                    body = response.json()
                    answer = (body["model_version"], body["churn_probability"])
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                with traffic.lock:
                    traffic.failures.append(repr(exc))
                continue
            with traffic.lock:
                if response.status_code == 200:
                    traffic.answers.append(answer)
                else:
                    traffic.failures.append(f"{response.status_code}: {response.text[:200]}")


def _while_scoring(base_url: str, action: Callable[[], None]) -> Traffic:
    """Run ``action`` while client threads post single and batch predictions."""
    traffic = Traffic()
    threads = [
        threading.Thread(target=_score_until_stopped, args=(base_url, traffic, i == 0))
        for i in range(CLIENT_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        action()
        time.sleep(0.3)
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return traffic


@pytest.mark.usefixtures("serving_version_1")
def test_reloads_under_concurrent_traffic_switch_models_without_a_failed_request(
    models: Models, server: LiveServer, http: httpx.Client
) -> None:
    expected = {v: b.probability([EXAMPLE_CUSTOMER])[0] for v, b in models.bundles.items()}
    assert abs(expected["1"] - expected["2"]) > 1e-3  # the two models are told apart
    sequence = ["2", "1", "2", "1", "2"]
    reloads: list[dict[str, object]] = []

    def reload_several_times() -> None:
        for version in sequence:
            _point(models.link, models.bundles[version].path)
            response = http.post("/admin/reload", headers=KEY)
            assert response.status_code == 200, response.text
            reloads.append(response.json())
            # The next request after the reload answers is scored by the new model.
            after = http.post("/predict", json=EXAMPLE_CUSTOMER).json()
            assert after["model_version"] == version
            assert after["churn_probability"] == pytest.approx(expected[version], abs=1e-9)
            time.sleep(0.15)

    traffic = _while_scoring(server.base_url, reload_several_times)

    print(
        f"{len(traffic.answers)} answers, {len(traffic.failures)} failures, {len(reloads)} reloads"
    )
    assert traffic.failures == []
    assert [r["version"] for r in reloads] == sequence
    assert [r["previous_version"] for r in reloads] == ["1", *sequence[:-1]]
    assert all(r["reloaded"] for r in reloads)
    assert len(traffic.answers) > 50
    seen = {version for version, _ in traffic.answers}
    assert seen == {"1", "2"}
    for (
        version,
        probability,
    ) in traffic.answers:  # never a mix of one model's version and another's score
        assert probability == pytest.approx(expected[version], abs=1e-9)
    assert http.get("/model").json()["version"] == "2"


@pytest.mark.usefixtures("serving_version_1")
@pytest.mark.parametrize(
    ("broken", "reason"),
    [("wrong-hash", "sha256"), ("corrupt", "refusing to load")],
)
def test_a_broken_model_is_refused_and_the_old_one_keeps_serving(
    models: Models, server: LiveServer, http: httpx.Client, broken: str, reason: str
) -> None:
    expected = models.bundles["1"].probability([EXAMPLE_CUSTOMER])[0]
    before = http.get("/model").json()
    refused: list[httpx.Response] = []

    def reload_a_broken_model() -> None:
        _point(models.link, models.broken[broken])
        refused.append(http.post("/admin/reload", headers=KEY))

    traffic = _while_scoring(server.base_url, reload_a_broken_model)

    assert refused[0].status_code == 409
    body = refused[0].json()
    assert body["reloaded"] is False
    assert body["version"] == body["previous_version"] == "1"
    assert reason in body["reason"]
    assert traffic.failures == []
    assert {version for version, _ in traffic.answers} == {"1"}
    assert http.get("/ready").status_code == 200
    assert http.get("/model").json() == before
    answer = http.post("/predict", json=EXAMPLE_CUSTOMER).json()
    assert answer["model_version"] == "1"
    assert answer["churn_probability"] == pytest.approx(expected, abs=1e-9)
    assert 'churnguard_model_reloads_total{outcome="refused"}' in http.get("/metrics").text


def test_reload_needs_the_api_key(http: httpx.Client) -> None:
    assert http.post("/admin/reload").status_code == 401
    assert http.post("/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401
