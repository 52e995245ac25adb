"""The documentation pages work without internet: every script and style they load is served by Sika
itself; ``/`` is a page that leads to them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sika.api.app import create_app
from sika.bootstrap import Container, bootstrap
from sika.config import Settings


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    container: Container = bootstrap(Settings(database_url=sqlite_url, providers="instant"))
    with TestClient(create_app(container, run_workers=False)) as test_client:
        yield test_client


def _loaded(page: str) -> list[str]:
    """What a browser fetches to show the page: scripts, styles and icons."""
    return re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)


@pytest.mark.parametrize(("path", "script"), [("/docs", "swagger-ui-bundle.js"),
                                              ("/redoc", "redoc.standalone.js")])
def test_the_api_reference_loads_only_what_sika_serves(client: TestClient, path: str, script: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    loaded = [url for url in _loaded(page.text) if not url.startswith("/openapi.json")]
    assert any(url.endswith(script) for url in loaded), loaded
    for url in loaded:
        assert url.startswith("/"), f"{path} loads {url} from outside: blank without internet"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
    assert "fonts.googleapis" not in page.text and "cdn." not in page.text


def test_the_front_page_leads_to_the_api_reference(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert {"/docs", "/redoc", "/openapi.json"} <= set(_loaded(page.text))
    assert "/" not in client.get("/openapi.json").json()["paths"]
