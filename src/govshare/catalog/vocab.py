"""Controlled vocabularies of the catalog (R03, R04, R17): stored codes in English, labels in Chinese."""

from __future__ import annotations

import enum
from typing import Literal


class LabelledEnum(enum.StrEnum):
    """A str enum whose members carry a Chinese label; parse() accepts the code or the label."""

    label: str

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def parse(cls, text: str) -> LabelledEnum | None:
        text = (text or "").strip()
        for member in cls:
            if text in (member.value, member.label):
                return member
        return None

    @classmethod
    def labels(cls) -> dict[str, str]:
        return {m.value: m.label for m in cls}

    @classmethod
    def choices(cls) -> str:
        """The accepted values for a message or a description: `code（label）、…`."""
        return "、".join(f"{m.value}（{m.label}）" for m in cls)


def code_or_label(enum_cls: type[LabelledEnum]) -> object:
    """The type of a parameter that accepts a member's code or its Chinese label: the OpenAPI lists both,
    and anything else is a 422 naming the parameter. The route turns the value into a member with `parse`."""
    return Literal[tuple(value for member in enum_cls for value in (member.value, member.label))]


class ShareType(LabelledEnum):
    UNCONDITIONAL = "unconditional", "无条件共享"
    CONDITIONAL = "conditional", "有条件共享"
    NONE = "none", "不予共享"


class ShareMethod(LabelledEnum):
    API = "api", "接口"
    TABLE = "table", "库表"
    FILE = "file", "文件"
    # the provider answers verifications only (一致/不一致/无记录, e.g. 婚姻登记信息): every request is 仅核验
    VERIFY = "verify", "核验"


class OpenAttribute(LabelledEnum):
    OPEN = "open", "无条件开放"
    CONDITIONAL = "conditional", "有条件开放"
    CLOSED = "closed", "不予开放"


class DataFormat(LabelledEnum):
    DOCUMENT = "document", "电子文件"
    SPREADSHEET = "spreadsheet", "电子表格"
    DATABASE = "database", "数据库"
    IMAGE = "image", "图形图像"
    STREAM = "stream", "流媒体"
    SELF_DESCRIBING = "self_describing", "自描述格式"
    SERVICE = "service", "服务接口"


class UpdateCycle(LabelledEnum):
    REALTIME = "realtime", "实时"
    DAILY = "daily", "每日"
    WEEKLY = "weekly", "每周"
    MONTHLY = "monthly", "每月"
    QUARTERLY = "quarterly", "每季度"
    SEMIANNUAL = "semiannual", "每半年"
    YEARLY = "yearly", "每年"
    IRREGULAR = "irregular", "不定期"


# Days after the last update before an entry counts as stale (R05); None: never stale.
STALE_AFTER_DAYS: dict[UpdateCycle, int | None] = {
    UpdateCycle.REALTIME: 2,
    UpdateCycle.DAILY: 2,
    UpdateCycle.WEEKLY: 8,
    UpdateCycle.MONTHLY: 32,
    UpdateCycle.QUARTERLY: 93,
    UpdateCycle.SEMIANNUAL: 184,
    UpdateCycle.YEARLY: 366,
    UpdateCycle.IRREGULAR: None,
}


class Grade(LabelledEnum):
    """GB/T 43697-2024: 核心 / 重要 / 一般 (一般 in four levels)."""

    CORE = "core", "核心"
    IMPORTANT = "important", "重要"
    GENERAL_4 = "general_4", "一般4"
    GENERAL_3 = "general_3", "一般3"
    GENERAL_2 = "general_2", "一般2"
    GENERAL_1 = "general_1", "一般1"


GRADE_RANK = {g: rank for rank, g in enumerate(reversed(list(Grade)))}


class PersonalInfo(LabelledEnum):
    NONE = "none", "非个人信息"
    PERSONAL = "pi", "个人信息"
    SENSITIVE = "spi", "敏感个人信息"


class ItemType(LabelledEnum):
    STRING = "string", "字符型"
    INTEGER = "integer", "整数型"
    DECIMAL = "decimal", "数值型"
    DATE = "date", "日期型"
    DATETIME = "datetime", "日期时间型"
    BOOLEAN = "boolean", "布尔型"
    BINARY = "binary", "二进制"


class EntryStatus(LabelledEnum):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "待审核"
    PUBLISHED = "published", "已发布"
    RETURNED = "returned", "已退回"


class RevisionStatus(LabelledEnum):
    DRAFT = "draft", "修订草稿"
    SUBMITTED = "submitted", "修订待审核"
    APPROVED = "approved", "修订已发布"
    RETURNED = "returned", "修订已退回"


class Classification(LabelledEnum):
    """The first segment (类) of a resource code, per the 2017 catalog guide."""

    BASE = "1", "基础信息资源"
    THEME = "2", "主题信息资源"
    DEPARTMENT = "3", "部门信息资源"
