"""Control endpoints, counters and the region header of the stand-in framework."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import Faults, StandinCluster, StandinError, create_standin_app, json_response, standin_state

A, B = "region-a", "region-b"
ClientFor = Callable[[str, str], httpx.Client]


async def get_item(request: Request) -> Response:
    if request.path_params["item_id"] == "404":
        raise StandinError(404, "item_not_found", "no item 404")
    return json_response({"id": request.path_params["item_id"]})


async def create_item(request: Request) -> Response:
    return json_response({"id": "new"}, 201)


ROUTES = [Route("/items/{item_id}", get_item), Route("/items", create_item, methods=["POST"])]


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    standins = {region: create_standin_app("demo", region, ROUTES) for region in (A, B)}
    with StandinCluster({"demo": standins}) as cluster:
        yield cluster


@pytest.fixture
def client(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("demo", A)


def test_get_faults_shows_none_by_default(client: httpx.Client) -> None:
    response = client.get("/_faults")

    assert response.status_code == 200
    assert response.json() == Faults().model_dump()


def test_put_faults_replaces_the_faults_in_force(client: httpx.Client) -> None:
    client.put("/_faults", json={"latency_ms": 5, "error_rate": 0.25}).raise_for_status()
    client.put("/_faults", json={"garbage": True}).raise_for_status()

    faults = client.get("/_faults").json()

    assert faults["garbage"] is True
    assert faults["latency_ms"] == 0
    assert faults["error_rate"] == 0


def test_put_faults_answers_the_faults_now_in_force(client: httpx.Client) -> None:
    response = client.put("/_faults", json={"hang": True})

    assert response.json() == Faults(hang=True).model_dump()


def test_put_faults_rejects_an_invalid_value_naming_the_field(client: httpx.Client) -> None:
    response = client.put("/_faults", json={"error_rate": 2})

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_faults"
    assert "error_rate" in response.json()["detail"]
    assert client.get("/_faults").json() == Faults().model_dump()


def test_put_faults_rejects_an_unknown_field_naming_it(client: httpx.Client) -> None:
    response = client.put("/_faults", json={"latency": 100})

    assert response.status_code == 422
    assert "latency" in response.json()["detail"]


def test_put_faults_rejects_a_body_that_is_not_json(client: httpx.Client) -> None:
    response = client.put("/_faults", content=b"latency_ms=100")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_delete_faults_switches_every_fault_off(client: httpx.Client) -> None:
    client.put("/_faults", json={"error_rate": 1}).raise_for_status()

    client.delete("/_faults").raise_for_status()

    assert client.get("/items/1").status_code == 200


def test_health_answers_ok_with_service_and_region(client: httpx.Client) -> None:
    response = client.get("/_health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "demo", "region": A}


def test_control_endpoints_ignore_faults(client: httpx.Client) -> None:
    client.put("/_faults", json={"error_rate": 1, "wrong_shape": True}).raise_for_status()

    assert client.get("/_stats").json()["region"] == A
    assert client.get("/_health").status_code == 200


def test_stats_count_requests_by_route_template(client: httpx.Client) -> None:
    for item_id in (1, 2, 3):
        client.get(f"/items/{item_id}")
    client.post("/items")

    stats = client.get("/_stats").json()

    assert stats == {
        "region": A,
        "requests": 4,
        "by_route": {"GET /items/{item_id}": 3, "POST /items": 1},
    }


def test_stats_count_requests_that_faults_failed(client: httpx.Client) -> None:
    client.put("/_faults", json={"error_rate": 1}).raise_for_status()
    client.get("/items/1")
    client.put("/_faults", json={"drop": True}).raise_for_status()
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/items/1")

    assert client.get("/_stats").json()["by_route"] == {"GET /items/{item_id}": 2}


def test_stats_do_not_count_control_endpoints(client: httpx.Client) -> None:
    client.get("/_health")
    client.get("/_faults")

    assert client.get("/_stats").json()["requests"] == 0


def test_stats_count_unknown_paths_in_one_bucket(client: httpx.Client) -> None:
    client.get("/nope")
    client.get("/nope/either")

    assert client.get("/_stats").json()["by_route"] == {"GET (unmatched)": 2}


def test_delete_stats_zeroes_the_counters(client: httpx.Client) -> None:
    client.get("/items/1")

    client.delete("/_stats").raise_for_status()

    assert client.get("/_stats").json() == {"region": A, "requests": 0, "by_route": {}}


def test_stats_are_kept_per_region(fresh: StandinCluster, client: httpx.Client) -> None:
    client.get("/items/1")

    assert fresh.state("demo", A).stats.requests == 1
    assert fresh.state("demo", B).stats.requests == 0


@pytest.mark.parametrize("path", ["/items/1", "/_health", "/nope"])
def test_every_answer_names_the_region_that_served_it(client: httpx.Client, path: str) -> None:
    assert client.get(path).headers["x-served-region"] == A


def test_injected_errors_name_the_region_too(client: httpx.Client) -> None:
    client.put("/_faults", json={"error_rate": 1}).raise_for_status()

    assert client.get("/items/1").headers["x-served-region"] == A


def test_handler_errors_answer_code_and_detail(client: httpx.Client) -> None:
    response = client.get("/items/404")

    assert response.status_code == 404
    assert response.json() == {"error": "item_not_found", "detail": "no item 404"}


def test_unknown_paths_answer_not_found_in_the_same_shape(client: httpx.Client) -> None:
    response = client.get("/nope")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_wrong_methods_answer_method_not_allowed(client: httpx.Client) -> None:
    response = client.delete("/items/1")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_standin_state_refuses_apps_it_did_not_make() -> None:
    with pytest.raises(TypeError, match="create_standin_app"):
        standin_state(Starlette())
