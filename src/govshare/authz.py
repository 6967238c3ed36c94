"""Who is acting, and the checks every service applies before it changes anything.

Authorization lives in services and in `readable(...)` queries, never only in routes, so the CLI,
the API and the jobs apply the same rules."""

from __future__ import annotations

from dataclasses import dataclass

from govshare.errors import Forbidden, NotFound
from govshare.orgs.models import Role, User


def region_prefix(region_code: str) -> str:
    """The administrative area a region code covers: 340000 -> 34, 341700 -> 3417, 341702 -> 341702."""
    code = (region_code or "").strip()
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    role: Role
    department_id: int | None
    region_code: str = ""
    is_competent_authority: bool = False

    @classmethod
    def from_user(cls, user: User) -> Actor:
        return cls(
            user_id=user.id,
            username=user.username,
            role=Role(user.role),
            department_id=user.department_id,
            region_code=user.department.region_code,
            is_competent_authority=user.department.is_competent_authority,
        )

    @classmethod
    def system(cls) -> Actor:
        """The server operator running a CLI command on the node itself."""
        return cls(user_id=None, username="system", role=Role.PLATFORM_ADMIN, department_id=None)

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def has(self, *roles: Role) -> bool:
        return self.role in roles

    def covers_region(self, region_code: str) -> bool:
        """A competent authority supervises the departments of its own administrative area."""
        prefix = region_prefix(self.region_code)
        return bool(prefix) and (region_code or "").startswith(prefix)


def require_role(actor: Actor, *roles: Role, action: str) -> None:
    if actor.is_system or actor.role in roles:
        return
    allowed = "、".join(r.value for r in roles)
    raise Forbidden(f"当前角色无权{action}（需要角色：{allowed}）", field="role")


def require_own_department(actor: Actor, department_id: int, *, action: str) -> None:
    if actor.is_system or actor.department_id == department_id:
        return
    raise Forbidden(f"不能{action}其他部门的数据", field="department_id")


def require_authority_over(actor: Actor, region_code: str, *, action: str) -> None:
    """The reviewer must belong to a competent authority whose area covers the department."""
    if actor.is_system:
        return
    require_role(actor, Role.AUTHORITY_REVIEWER, action=action)
    if not (actor.is_competent_authority and actor.covers_region(region_code)):
        raise Forbidden(f"不在本主管部门管辖范围内，无权{action}", field="provider")


def actor_named(session, username: str | None) -> Actor:
    """The actor of a CLI command: the user named by --user, or the node operator when none is named."""
    from sqlalchemy import select

    if not username:
        return Actor.system()
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"用户不存在：{username}", field="user")
    if not user.is_active:
        raise Forbidden(f"用户已停用：{username}", field="user")
    return Actor.from_user(user)
