"""Routes of sharing (thin: every rule is in sharing.service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["sharing"])
