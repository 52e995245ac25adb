"""The HTTP surface that exists at the foundation: health, OpenAPI and problem+json errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sika.api.app import create_app
from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.devservers import free_port


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    container = bootstrap(Settings(database_url=database_url))
    with TestClient(create_app(container)) as test_client:
        yield test_client


def test_healthz_answers_200_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_answers_503_when_the_database_is_down() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=2"
    container = bootstrap(Settings(database_url=url), migrate=False)
    with TestClient(create_app(container, run_workers=False)) as test_client:
        response = test_client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "database_unavailable"


def test_unknown_routes_answer_problem_json_with_a_code(client: TestClient) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404


def test_the_openapi_document_lists_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "/healthz" in document["paths"]
    assert client.get("/docs").status_code == 200
