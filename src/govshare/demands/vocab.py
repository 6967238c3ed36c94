"""States of a demand (R20)."""

from __future__ import annotations

from govshare.catalog.vocab import LabelledEnum


class DemandStatus(LabelledEnum):
    OPEN = "open", "待匹配"
    MATCHED = "matched", "已匹配现有目录"
    ROUTED = "routed", "已转提供部门"
    ACCEPTED = "accepted", "提供部门已承诺编目"
    DECLINED = "declined", "提供部门说明无法提供"
    FULFILLED = "fulfilled", "已编目发布"
    WITHDRAWN = "withdrawn", "已撤回"
