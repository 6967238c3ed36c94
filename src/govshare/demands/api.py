"""Routes of demands (thin: every rule is in demands.service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["demands"])
