"""Placeholder router; the search helper replaces this file."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/catalog", tags=["search"])
