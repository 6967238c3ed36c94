"""Departments (政府部门), users with roles, and bearer tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.db import Base, utcnow


class Level(enum.StrEnum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    MUNICIPAL = "municipal"
    COUNTY = "county"


LEVEL_LABELS = {Level.NATIONAL: "国家级", Level.PROVINCIAL: "省级", Level.MUNICIPAL: "市级", Level.COUNTY: "县级"}


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    AUTHORITY_REVIEWER = "authority_reviewer"
    CATALOG_MANAGER = "catalog_manager"
    DEPT_REVIEWER = "dept_reviewer"
    REQUESTER = "requester"
    AUDITOR = "auditor"


ROLE_LABELS = {
    Role.PLATFORM_ADMIN: "平台管理员",
    Role.AUTHORITY_REVIEWER: "主管部门审核员",
    Role.CATALOG_MANAGER: "部门目录管理员",
    Role.DEPT_REVIEWER: "部门审核员",
    Role.REQUESTER: "数据需求人员",
    Role.AUDITOR: "审计员",
}


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("name", "region_code", name="uq_departments_name_region"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    level: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str] = mapped_column(String(12), default="", index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    is_competent_authority: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    parent: Mapped[Department | None] = relationship(remote_side=[id])
    aliases: Mapped[list[DepartmentAlias]] = relationship(
        back_populates="department", order_by="DepartmentAlias.alias", cascade="all, delete-orphan"
    )


class DepartmentAlias(Base):
    """Another name of a department (a short name such as 省统计局 for 安徽省统计局, a former name). Imports
    resolve a provider by its name or an alias. Unique within a region, like the names themselves: the region
    is the department's, kept here so that the database enforces it (orgs.service checks it also against the
    names of the region's departments)."""

    __tablename__ = "department_aliases"
    __table_args__ = (UniqueConstraint("region_code", "alias", name="uq_department_aliases_region_alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    alias: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    department: Mapped[Department] = relationship(back_populates="aliases")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(40))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)


class ApiToken(Base):
    """A bearer token: a login session for a person or a long-lived token for a program.
    Only the SHA-256 of the token is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "session" or "api"
    name: Mapped[str] = mapped_column(String(120), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class ConsumerSystem(Base):
    """A program of a requester department that calls the data service (e.g. 低保审核系统). Its secret is
    shown once; only its SHA-256 is kept (a 256-bit random secret needs no slow hash). Grants name the
    system, so credentials reach only what was granted to it."""

    __tablename__ = "consumer_systems"
    __table_args__ = (UniqueConstraint("department_id", "name", name="uq_consumer_systems_department_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    secret_rotated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)


class AdminAction(enum.StrEnum):
    """What the platform administrator changed (an AdminEvent's action)."""

    DEPARTMENT_CREATED = "department_created"
    ALIAS_ADDED = "alias_added"
    ALIAS_REMOVED = "alias_removed"
    USER_CREATED = "user_created"
    USER_DEACTIVATED = "user_deactivated"
    USER_ACTIVATED = "user_activated"
    PASSWORD_RESET = "password_reset"
    ROLE_CHANGED = "role_changed"
    CONNECTION_REGISTERED = "connection_registered"
    CONNECTION_RETIRED = "connection_retired"
    CALENDAR_DAY_SET = "calendar_day_set"
    CALENDAR_DAY_REMOVED = "calendar_day_removed"
    CALENDAR_IMPORTED = "calendar_imported"


ADMIN_ACTION_LABELS = {
    AdminAction.DEPARTMENT_CREATED: "创建部门",
    AdminAction.ALIAS_ADDED: "添加部门别名",
    AdminAction.ALIAS_REMOVED: "删除部门别名",
    AdminAction.USER_CREATED: "创建用户",
    AdminAction.USER_DEACTIVATED: "停用用户",
    AdminAction.USER_ACTIVATED: "启用用户",
    AdminAction.PASSWORD_RESET: "重置密码",
    AdminAction.ROLE_CHANGED: "修改角色",
    AdminAction.CONNECTION_REGISTERED: "登记数据连接",
    AdminAction.CONNECTION_RETIRED: "停用数据连接",
    AdminAction.CALENDAR_DAY_SET: "登记节假日调整",
    AdminAction.CALENDAR_DAY_REMOVED: "删除节假日登记",
    AdminAction.CALENDAR_IMPORTED: "导入节假日安排",
}


class AdminEvent(Base):
    """One change the platform administrator made to departments, users, data connections or the holiday
    calendar (R18: every administrative change is recorded), written by the owning service through
    `orgs.service.record_admin_change` in the same unit of work as the change. `actor_user_id` is empty for
    the node operator's commands; `summary` is a readable Chinese sentence and never holds a password or its
    hash."""

    __tablename__ = "admin_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class LoginAttempt(Base):
    """One login attempt, successful or not: the record behind login throttling (orgs.throttle). The
    username is the one typed (normalized), whether or not such a user exists; `locked`: refused for a
    lockout without the password being checked."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
