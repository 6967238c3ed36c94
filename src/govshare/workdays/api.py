"""Routes of workdays (thin: every rule is in workdays.service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["workdays"])
