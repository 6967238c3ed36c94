"""The `Case` of the negative authorization tests (tests/test_authz_api.py): shared by the case lists
of every issue (tests/authz_cases_issue3.py) without importing the test module itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Case:
    """One write route: how to set the scene, who must be refused, who may do it, and what must not change."""

    method: str
    path: str
    prepare: Callable  # (session, world) -> dict of path parameters
    body: Callable[[dict], dict | None]  # path parameters -> JSON body
    intruders: tuple[str, ...]  # other departments, other authorities, wrong roles
    owner: str  # the one who may: proves the request itself is well formed
    state: Callable  # (session, params) -> comparable snapshot of what the route would change
    owner_status: int = 200
    extra: dict = field(default_factory=dict)
    multipart: bool = False  # body() returns {"files": ..., "data": ...}

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, params: dict) -> str:
        return self.path.format(**params)
