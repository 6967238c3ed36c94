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


# ---------------------------------------------------------------- personal information named as such
#
# An item whose name says it holds a person's name, identifier, phone, birth date or home address is personal
# information whatever its values (R17): a column of 法人代表 that is `N/A` in every row today is the legal
# representatives' names tomorrow. The kinds are those of gateway.profiling (and the masking defaults of
# gateway.masking). A plain 地址/电话/账号 names no person: 注册地址, 单位电话 and 单位银行账号 are an
# organization's; such words count only beside a word naming a person (法定代表人电话, 联系人地址).

PERSON_WORDS = ("法定代表人", "法人代表", "负责人", "联系人", "户主", "申请人", "监护人", "经办人", "姓名")
# (word, kind), most specific first: 法定代表人身份证号 is an ID number before it is a name.
PERSONAL_NAME_WORDS = (
    ("身份证", "id_number"), ("身份号码", "id_number"), ("证件号", "id_number"),
    ("银行卡", "bank_card"), ("银行账号", "bank_card"), ("银行账户", "bank_card"),
    ("手机", "mobile"), ("联系电话", "mobile"), ("移动电话", "mobile"),
    ("出生日期", "birth_date"), ("出生年月", "birth_date"), ("生日", "birth_date"),
    ("住址", "address"), ("居住地", "address"), ("家庭地址", "address"),
    ("户籍地", "address"), ("户籍所在地", "address"),
)
PERSON_ONLY_WORDS = (("电话", "mobile"), ("地址", "address"), ("账号", "bank_card"))  # beside a person word
# a name beginning with these is an organization's item unless it also names a person (单位联系电话)
ORGANIZATION_WORDS = ("单位", "企业", "机构", "部门", "公司", "办公", "法人单位", "组织")
# item names in pinyin initials or English, as source columns are often named (whole words only)
PERSONAL_CODE_NAMES = {
    "sfzh": "id_number", "sfzhm": "id_number", "gmsfhm": "id_number", "id_card": "id_number",
    "idcard": "id_number", "id_number": "id_number",
    "sjh": "mobile", "sjhm": "mobile", "mobile": "mobile", "cellphone": "mobile",
    "fddbr": "person_name", "frdb": "person_name", "legal_representative": "person_name",
    "person_name": "person_name",
    "csrq": "birth_date", "birth_date": "birth_date", "birthday": "birth_date",
}


def personal_kind_of_name(name: str) -> str | None:
    """The kind of personal information an item's name says it holds (`id_number`, `bank_card`, `mobile`,
    `birth_date`, `person_name`, `address`), or None: 法人代表 → person_name, 法定代表人身份证号 → id_number,
    联系电话 → mobile, 住址 → address; 注册地址, 单位电话, 企业名称 → None. Reads Chinese names and the usual
    pinyin-initial or English column names (fddbr, sfzh, mobile)."""
    text = "".join((name or "").split())
    if not text:
        return None
    code = text.lower()
    if code in PERSONAL_CODE_NAMES:
        return PERSONAL_CODE_NAMES[code]
    names_person = any(word in text for word in PERSON_WORDS)
    if not names_person and text.startswith(ORGANIZATION_WORDS):
        return None
    for word, kind in PERSONAL_NAME_WORDS:
        if word in text:
            return kind
    if names_person:
        for word, kind in PERSON_ONLY_WORDS:
            if word in text:
                return kind
        return "person_name"
    return None


def undeclared_personal_warning(chinese_name: str, personal_info: str, name: str = "") -> str | None:
    """The import's warning for an item declared 非个人信息 whose name (Chinese, or its code) reads as personal
    information: `信息项“法人代表”名称像个人信息，但申报为非个人信息`; None when there is nothing to warn of."""
    if str(personal_info or "none") not in ("none", "非个人信息"):
        return None
    if personal_kind_of_name(chinese_name) is None and personal_kind_of_name(name) is None:
        return None
    return f"信息项“{chinese_name or name}”名称像个人信息，但申报为非个人信息"
