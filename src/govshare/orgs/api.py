"""Routes for login, tokens, departments and users (thin: the rules are in orgs.service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.deps import SESSION, bearer_token, client_address, current_actor
from govshare.errors import ValidationFailed
from govshare.fields import IdPath, IdQuery, Offset, limit_query
from govshare.orgs import service
from govshare.orgs.models import AdminAction
from govshare.orgs.schemas import (
    AdminEventOut,
    DepartmentAliasIn,
    DepartmentAliasOut,
    DepartmentIn,
    DepartmentOut,
    LoginIn,
    MeOut,
    PasswordIn,
    RoleIn,
    TokenIn,
    TokenInfoOut,
    TokenOut,
    UserIn,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["orgs"])


@router.post("/auth/login", response_model=TokenOut, summary="登录", responses=errors(401, 429),
             openapi_extra={"security": []},  # answers 401 for a wrong password, but needs no token
             description="用户名和密码登录（统一身份认证，R18），返回登录会话令牌：只显示这一次，"
                         "有效期为 GOVSHARE_SESSION_HOURS 小时。用户名或密码错误、用户已停用均答 401。"
                         "同一用户名或同一地址连续登录失败过多时暂时锁定（答 429，error.retry_after 为须等待的秒数，"
                         "锁定期间密码正确也不能登录；每多一次失败，锁定时间加倍）。")
def login(body: LoginIn, request: Request, session: Session = SESSION) -> TokenOut:
    hours = request.app.state.settings.session_hours
    return TokenOut(token=service.login(session, body.username, body.password, session_hours=hours,
                                        address=client_address(request)))


@router.post("/auth/tokens", response_model=TokenOut, status_code=201, summary="创建程序令牌",
             description="为调用 API 的程序创建令牌，以当前用户的角色和部门行事（R18）；令牌只显示这一次，"
                         "有效期不超过 GOVSHARE_API_TOKEN_MAX_DAYS 天。只有登录会话（用户名和密码登录所得）"
                         "可以创建；用程序令牌请求答 403。")
def create_token(body: TokenIn, request: Request, actor: Actor = Depends(current_actor),
                 session: Session = SESSION) -> TokenOut:
    max_days = request.app.state.settings.api_token_max_days
    credential = service.credential_kind(session, bearer_token(request) or "")
    return TokenOut(token=service.create_api_token(session, actor, name=body.name, hours=body.hours,
                                                   max_days=max_days, credential=credential))


@router.get("/auth/tokens", response_model=list[TokenInfoOut], summary="查看令牌", responses=errors(404),
            description="当前用户的登录会话和程序令牌，最新的在前（不含令牌本身）；"
                        "平台管理员可用 user_id 查看其他用户的。")
def list_tokens(user_id: IdQuery | None = None, actor: Actor = Depends(current_actor),
                session: Session = SESSION):
    return service.list_tokens(session, actor, user_id=user_id)


@router.delete("/auth/tokens/{token_id}", status_code=204, summary="吊销令牌",
               description="立即吊销一个令牌（R18 实时授权与撤销）；其他用户的令牌视为不存在，平台管理员除外。"
                           "重复吊销保留第一次的时间。")
def revoke_token(token_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION) -> Response:
    service.revoke_token(session, actor, token_id)
    return Response(status_code=204)


@router.post("/auth/logout", status_code=204, summary="退出登录", responses=errors(422),
             description="吊销本次请求所用的登录会话令牌（R18）；程序令牌请用 DELETE /api/v1/auth/tokens/{id} 吊销。")
def logout(request: Request, _actor: Actor = Depends(current_actor), session: Session = SESSION) -> Response:
    if not service.logout(session, bearer_token(request) or ""):
        raise ValidationFailed("该令牌是程序令牌，不是登录会话：请用 DELETE /api/v1/auth/tokens/{id} 吊销",
                               field="authorization")
    return Response(status_code=204)


@router.get("/auth/me", response_model=MeOut, summary="当前用户")
def me(actor: Actor = Depends(current_actor)) -> MeOut:
    return MeOut(user_id=actor.user_id, username=actor.username, role=actor.role.value,
                 department_id=actor.department_id)


@router.get("/departments", response_model=list[DepartmentOut], summary="部门列表",
            description="全部部门及其别名（简称、曾用名：导入目录时提供部门按名称或别名认定，R03）。")
def list_departments(_actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.list_departments(session)


@router.post("/departments", response_model=DepartmentOut, status_code=201, summary="创建部门",
             responses=errors(409),
             description="平台管理员登记政府部门（R18 管理员职责）：层级、行政区划代码和统一社会信用代码都经校验；"
                         "同一行政区划下的同名部门或已使用的信用代码答 409。")
def create_department(body: DepartmentIn, actor: Actor = Depends(current_actor),
                      session: Session = SESSION):
    return service.create_department(
        session, actor, name=body.name, level=body.level, region_code=body.region_code, uscc_code=body.uscc,
        parent_id=body.parent_id, is_competent_authority=body.is_competent_authority,
    )


@router.post("/departments/{department_id}/aliases", response_model=DepartmentAliasOut, status_code=201,
             summary="添加部门别名", responses=errors(404, 409),
             description="平台管理员为部门添加别名（R18 管理员职责），如为“安徽省统计局”添加“省统计局”："
                         "此后导入目录时，提供部门为别名的行归入该部门（R03），该部门的目录管理员也可导入这些行。"
                         "别名在同一行政区划内唯一：已是其他部门的名称或别名答 409；"
                         "重复添加本部门已有的别名不变。其他角色答 403。")
def add_department_alias(department_id: IdPath, body: DepartmentAliasIn, actor: Actor = Depends(current_actor),
                         session: Session = SESSION):
    return service.add_alias(session, actor, department_id, body.alias)


@router.delete("/departments/{department_id}/aliases/{alias_id}", status_code=204, summary="删除部门别名",
               responses=errors(404),
               description="平台管理员删除部门的一个别名（R18 管理员职责）；已按该别名导入的目录仍属该部门，"
                           "此后以该名称导入的行不再归入该部门（R03）。不是该部门的别名答 404，其他角色答 403。")
def remove_department_alias(department_id: IdPath, alias_id: IdPath, actor: Actor = Depends(current_actor),
                            session: Session = SESSION) -> Response:
    service.remove_alias(session, actor, department_id, alias_id)
    return Response(status_code=204)


@router.post("/users", response_model=UserOut, status_code=201, summary="创建用户", responses=errors(404, 409),
             description="平台管理员创建用户并赋予一个角色（R18 管理员、操作员、审计员分离）；"
                         "部门不存在答 404，用户名已存在答 409。")
def create_user(body: UserIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.create_user(
        session, actor, username=body.username, password=body.password, role=body.role,
        department_id=body.department_id, display_name=body.display_name,
    )


@router.get("/users", response_model=list[UserOut], summary="用户列表",
            description="平台管理员和审计员看到全部用户，其他人看到本部门的用户。")
def list_users(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.list_users(session, actor)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, summary="停用用户", responses=errors(409),
             description="立即生效：该用户不能再登录，其全部令牌同时吊销（R18 实时撤销）；不能停用自己。")
def deactivate_user(user_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.set_user_active(session, actor, user_id, active=False)


@router.post("/users/{user_id}/activate", response_model=UserOut, summary="启用用户",
             description="重新启用用户（R18）；旧令牌不会恢复，用户须重新登录、重新创建程序令牌。")
def activate_user(user_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.set_user_active(session, actor, user_id, active=True)


@router.post("/users/{user_id}/password", response_model=UserOut, summary="重置用户密码",
             description="平台管理员为用户设置新密码（R18 统一身份认证，管理员职责），"
                         "规则与创建用户相同（至少 8 个字符）；"
                         "该用户的全部登录会话立即结束，须以新密码重新登录（程序令牌不受影响）。"
                         "变更记入管理变更记录（不含密码）。其他角色答 403。")
def reset_password(user_id: IdPath, body: PasswordIn, actor: Actor = Depends(current_actor),
                   session: Session = SESSION):
    return service.reset_password(session, actor, user_id, body.password)


@router.post("/users/{user_id}/role", response_model=UserOut, summary="修改用户角色", responses=errors(409),
             description="平台管理员修改用户的角色（R18 管理员、操作员、审计员分离）；"
                         "未知角色答 422（error.field 为 role），不能修改自己的角色（答 409）。"
                         "该用户的全部登录会话立即结束，须重新登录；变更记入管理变更记录。其他角色答 403。")
def change_role(user_id: IdPath, body: RoleIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.change_role(session, actor, user_id, body.role)


@router.get("/admin/events", response_model=list[AdminEventOut], summary="管理变更记录",
            description="平台管理员对部门和用户的每一次变更（创建部门、添加或删除别名、创建、停用、启用用户、重置密码、"
                        "修改角色），最新的在前；平台管理员和审计员可查看，其他角色答 403（R18）。")
def list_admin_events(action: AdminAction | None = None, limit: Annotated[int, limit_query(500)] = 100,
                      offset: Offset = 0,
                      actor: Actor = Depends(current_actor), session: Session = SESSION):
    events = service.list_admin_events(session, actor, action=action.value if action else None, limit=limit,
                                       offset=offset)
    return [AdminEventOut.of(event) for event in events]
