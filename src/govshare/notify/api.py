"""Routes of notify (thin: every rule is in notify.service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["notify"])
