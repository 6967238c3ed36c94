"""Imports every domain's tables so that Base.metadata is complete (for Alembic and the tests)."""

from govshare.audit import models as audit_models
from govshare.catalog import models as catalog_models
from govshare.db import Base
from govshare.demands import models as demands_models
from govshare.gateway import models as gateway_models
from govshare.notify import models as notify_models
from govshare.objections import models as objections_models
from govshare.orgs import models as orgs_models
from govshare.quality import models as quality_models
from govshare.sharing import models as sharing_models
from govshare.workdays import models as workdays_models

__all__ = [
    "Base", "audit_models", "catalog_models", "demands_models", "gateway_models", "notify_models",
    "objections_models", "orgs_models", "quality_models", "sharing_models", "workdays_models",
]
