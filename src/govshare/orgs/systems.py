"""Consumer systems (R09, R10): the programs of a requester department that call shared data. A system
gets a client id and a secret, shown once and stored as SHA-256; rotation and revocation take effect at
once, and every grant names the one system allowed to use it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, require_own_department, require_role
from govshare.db import utcnow
from govshare.errors import Conflict, NotAuthenticated, ValidationFailed, found
from govshare.orgs.models import ConsumerSystem, Role

MANAGE_ROLES = (Role.REQUESTER, Role.DEPT_REVIEWER)
READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
# the columns' limits (PostgreSQL refuses a longer value; SQLite would store it): checked before the write
NAME_LENGTH = ConsumerSystem.__table__.c.name.type.length
DESCRIPTION_LENGTH = ConsumerSystem.__table__.c.description.type.length


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def readable_systems(actor: Actor) -> Select:
    query = select(ConsumerSystem)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    return query.where(ConsumerSystem.department_id == actor.department_id)


def list_systems(session: Session, actor: Actor) -> list[ConsumerSystem]:
    return list(session.scalars(readable_systems(actor).order_by(ConsumerSystem.id)))


def get_system(session: Session, actor: Actor, system_id: int) -> ConsumerSystem:
    return found(session.scalars(readable_systems(actor).where(ConsumerSystem.id == system_id)).first(),
                 f"应用系统不存在或无权查看：{system_id}", "system_id")


def register_system(session: Session, actor: Actor, name: str, description: str = "") -> tuple[ConsumerSystem, str]:
    """A new system of the actor's department; returns it with its secret (the only time it is shown)."""
    require_role(actor, *MANAGE_ROLES, action="登记应用系统")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("应用系统名称不能为空", field="name")
    if len(name) > NAME_LENGTH:
        raise ValidationFailed(f"应用系统名称最多 {NAME_LENGTH} 个字符，当前 {len(name)} 个", field="name")
    description = description or ""
    if len(description) > DESCRIPTION_LENGTH:
        raise ValidationFailed(f"应用系统说明最多 {DESCRIPTION_LENGTH} 个字符，当前 {len(description)} 个",
                               field="description")
    if actor.department_id is None:
        raise ValidationFailed("应用系统必须属于一个部门", field="department_id")
    duplicate = session.scalars(select(ConsumerSystem.id).where(
        ConsumerSystem.department_id == actor.department_id, ConsumerSystem.name == name)).first()
    if duplicate:
        raise Conflict(f"本部门已登记同名应用系统：{name}", field="name")
    secret = secrets.token_urlsafe(32)
    system = ConsumerSystem(
        department_id=actor.department_id, name=name, description=description,
        client_id="gs_" + secrets.token_hex(10), secret_hash=_hash(secret), created_by_id=actor.user_id,
    )
    session.add(system)
    session.flush()
    return system, secret


def _manageable(session: Session, actor: Actor, system_id: int) -> ConsumerSystem:
    system = found(session.get(ConsumerSystem, system_id), f"应用系统不存在：{system_id}", "system_id")
    require_role(actor, *MANAGE_ROLES, action="管理应用系统")
    require_own_department(actor, system.department_id, action="管理")
    return system


def rotate_secret(session: Session, actor: Actor, system_id: int) -> tuple[ConsumerSystem, str]:
    """A new secret; the old one stops working at once."""
    system = _manageable(session, actor, system_id)
    if system.revoked_at:
        raise Conflict("应用系统已吊销，不能更换密钥", field="system_id")
    secret = secrets.token_urlsafe(32)
    system.secret_hash = _hash(secret)
    system.secret_rotated_at = utcnow()
    return system, secret


def revoke_system(session: Session, actor: Actor, system_id: int) -> ConsumerSystem:
    """Revoked at once: its credentials stop working and its grants can no longer be used."""
    system = _manageable(session, actor, system_id)
    system.revoked_at = system.revoked_at or utcnow()
    return system


def authenticate_system(session: Session, client_id: str, secret: str) -> ConsumerSystem:
    """The system behind a client id and secret, or NotAuthenticated (the same message for every failure,
    so a caller cannot tell a wrong id from a wrong secret)."""
    system = session.scalars(select(ConsumerSystem).where(ConsumerSystem.client_id == (client_id or ""))).first()
    if system is None or not hmac.compare_digest(system.secret_hash, _hash(secret or "")) or system.revoked_at:
        raise NotAuthenticated("应用系统凭据无效或已吊销", field="client_id")
    return system
