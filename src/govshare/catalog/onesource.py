"""一数一源 (R06): find data items that several departments catalog, name the lead source department.
(Being written: see the one-source helper's brief.)"""

from __future__ import annotations

from sqlalchemy.orm import Session


def lead_terms_by_entry(session: Session, entry_ids: list[int]) -> dict[int, list[str]]:
    """For each entry: the canonical item names of the clusters whose lead source department is the
    entry's provider and which contain one of the entry's items. Search ranks these entries first."""
    return {}
