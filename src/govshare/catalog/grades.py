"""What a grade requires beyond masking (R17, GB/T 43697-2024): the one table the catalog, sharing and the
gateway read, so that the grade drives approval and access as well as masking.

- 重要 and 核心 data is never shared unconditionally: an entry holding it is 有条件共享 (or 不予共享), and a
  request for it waits for the provider's reply, whatever the entry says.
- 核心 data leaves its provider only as verification answers (核验, R09): a grant covers 核心 items for
  verification only; no reply and no masking rule of a grant opens them to lookups, pages, exports or previews.

Everything below 重要 (一般1–一般4) follows the entry's share type; masking stays the default of grade,
personal-information flag and kind (gateway.masking)."""

from __future__ import annotations

from collections.abc import Iterable

from govshare.catalog.vocab import GRADE_RANK, Grade

# Data of these grades needs the provider's reply: never 无条件共享, never approved automatically.
REPLY_GRADES = frozenset({Grade.IMPORTANT, Grade.CORE})
# Data of these grades is served for verification (核验) only.
VERIFY_ONLY_GRADES = frozenset({Grade.CORE})


def needs_reply(grade: str) -> bool:
    """Whether data of `grade` may be shared only after the provider's reply (重要, 核心)."""
    return grade in REPLY_GRADES


def verify_only(grade: str) -> bool:
    """Whether data of `grade` may only be verified, never read (核心)."""
    return grade in VERIFY_ONLY_GRADES


def highest(grades: Iterable[str]) -> Grade | None:
    """The most sensitive of `grades` (codes or members), or None for none."""
    members = [Grade(grade) for grade in grades]
    return max(members, key=GRADE_RANK.__getitem__) if members else None
