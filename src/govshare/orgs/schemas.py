from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from govshare.fields import Id, UtcDateTime
from govshare.orgs.models import ADMIN_ACTION_LABELS, LEVEL_LABELS, ROLE_LABELS, Level, Role

MAX_TOKEN_HOURS = 100 * 366 * 24  # a ceiling of the schema only; the node's setting is the real maximum
LEVELS = "、".join(f"{level.value}（{label}）" for level, label in LEVEL_LABELS.items())
ROLES = "、".join(f"{role.value}（{label}）" for role, label in ROLE_LABELS.items())
ADMIN_ACTIONS = "、".join(f"{action.value}（{label}）" for action, label in ADMIN_ACTION_LABELS.items())


class LoginIn(BaseModel):
    username: str
    password: str


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as `Authorization: Bearer <token>`")
    token_type: str = "bearer"


class TokenIn(BaseModel):
    name: str = Field("api", max_length=120)
    hours: int | None = Field(
        None, ge=1, le=MAX_TOKEN_HOURS,
        description="有效期（小时）；不填为上限。上限为 GOVSHARE_API_TOKEN_MAX_DAYS 天（默认 365 天），超过即拒绝",
    )


class TokenInfoOut(BaseModel):
    """A token as listed: never the token itself, which was shown once."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="session (a login) or api (a program token)")
    name: str
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class DepartmentIn(BaseModel):
    name: str
    level: Level = Field(description=f"层级：{LEVELS}")
    region_code: str = Field(description="6-digit 行政区划代码")
    uscc: str | None = Field(None, description="统一社会信用代码 (checked with its check character)")
    parent_id: Id | None = Field(None, description="上级部门编号")
    is_competent_authority: bool = False


class DepartmentAliasIn(BaseModel):
    alias: str = Field(min_length=1, max_length=200,
                       description="部门的其他名称（简称、曾用名，如“省统计局”），同一行政区划内唯一")


class DepartmentAliasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    department_id: int
    alias: str


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    level: str
    region_code: str
    uscc: str | None
    parent_id: int | None
    is_competent_authority: bool
    aliases: list[DepartmentAliasOut] = Field(default_factory=list,
                                              description="别名（简称、曾用名）：导入目录时按名称或别名认定提供部门")


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=80)
    password: str = Field(description="至少 8 个字符")
    role: Role = Field(description=f"角色：{ROLES}")
    department_id: Id = Field(description="所属部门编号")
    display_name: str = ""


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    department_id: int
    is_active: bool
    created_at: UtcDateTime


class PasswordIn(BaseModel):
    password: str = Field(description="新密码，至少 8 个字符（与创建用户的规则相同）")


class RoleIn(BaseModel):
    role: str = Field(max_length=40, description=f"新角色：{ROLES}")


class AdminEventOut(BaseModel):
    """One change of the platform administrator to departments and users."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    actor_user_id: int | None = Field(description="操作的平台管理员；为空表示节点运维在命令行操作")
    actor: str = Field(description="操作人的用户名；节点运维为 system")
    action: str = Field(description=f"变更类型：{ADMIN_ACTIONS}")
    target_kind: str = Field(description="对象类型：department（部门）或 user（用户）")
    target_id: int = Field(description="对象编号")
    summary: str = Field(description="中文说明（不含密码）")
    created_at: UtcDateTime

    @classmethod
    def of(cls, event) -> AdminEventOut:
        return cls(id=event.id, actor_user_id=event.actor_user_id,
                   actor=event.actor.username if event.actor is not None else "system", action=event.action,
                   target_kind=event.target_kind, target_id=event.target_id, summary=event.summary,
                   created_at=event.created_at)


class MeOut(BaseModel):
    user_id: int | None
    username: str
    role: str
    department_id: int | None
