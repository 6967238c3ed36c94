"""Chinese pages of one-stop sharing: requests, replies, disputes, grants, systems, demands, notifications."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
