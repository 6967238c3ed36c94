"""Imports every domain's tables so that Base.metadata is complete (for Alembic and the tests)."""

from govshare.catalog import models as catalog_models
from govshare.db import Base
from govshare.orgs import models as orgs_models

__all__ = ["Base", "catalog_models", "orgs_models"]
