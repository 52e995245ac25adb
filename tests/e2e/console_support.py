"""A person at the console, through the HTTP client: reads the CSRF token off each form it fills."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

from sika.bootstrap import Container
from sika.console.operators import Operators, Role

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def operator(container: Container, name: str, role: Role) -> str:
    """Create an operator; returns its password."""
    _, password = Operators(container.engine).create(name, role, f"{name}-secret-password")
    return password


@dataclass
class Desk:
    client: TestClient

    def csrf(self, path: str) -> str:
        found = _CSRF.search(self.client.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, name: str, password: str, code: str = "", **extra: str) -> httpx.Response:
        token = self.csrf("/console/login")
        return self.client.post("/console/login", data={"_csrf": token, "name": name, "password": password,
                                                        "code": code, **extra}, follow_redirects=False)

    def post(self, path: str, form_page: str = "/console", **fields: str) -> httpx.Response:
        return self.client.post(path, data={"_csrf": self.csrf(form_page), **fields}, follow_redirects=False)
