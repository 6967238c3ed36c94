"""Placeholder router for the Chinese UI pages."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
