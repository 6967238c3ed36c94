"""Routes for login, tokens, departments and users (thin: the rules are in orgs.service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION, bearer_token, current_actor
from govshare.errors import ValidationFailed
from govshare.orgs import service
from govshare.orgs.schemas import (
    DepartmentIn,
    DepartmentOut,
    LoginIn,
    MeOut,
    TokenIn,
    TokenInfoOut,
    TokenOut,
    UserIn,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["orgs"])


@router.post("/auth/login", response_model=TokenOut)
def login(body: LoginIn, request: Request, session: Session = SESSION) -> TokenOut:
    hours = request.app.state.settings.session_hours
    return TokenOut(token=service.login(session, body.username, body.password, session_hours=hours))


@router.post("/auth/tokens", response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, request: Request, actor: Actor = Depends(current_actor),
                 session: Session = SESSION) -> TokenOut:
    max_days = request.app.state.settings.api_token_max_days
    return TokenOut(token=service.create_api_token(session, actor, name=body.name, hours=body.hours,
                                                   max_days=max_days))


@router.get("/auth/tokens", response_model=list[TokenInfoOut])
def list_tokens(user_id: int | None = Query(None, description="another user's tokens (platform administrator)"),
                actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.list_tokens(session, actor, user_id=user_id)


@router.delete("/auth/tokens/{token_id}", status_code=204)
def revoke_token(token_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION) -> Response:
    service.revoke_token(session, actor, token_id)
    return Response(status_code=204)


@router.post("/auth/logout", status_code=204)
def logout(request: Request, _actor: Actor = Depends(current_actor), session: Session = SESSION) -> Response:
    """Revokes the login session token this request was sent with."""
    if not service.logout(session, bearer_token(request) or ""):
        raise ValidationFailed("该令牌是程序令牌，不是登录会话：请用 DELETE /api/v1/auth/tokens/{id} 吊销",
                               field="authorization")
    return Response(status_code=204)


@router.get("/auth/me", response_model=MeOut)
def me(actor: Actor = Depends(current_actor)) -> MeOut:
    return MeOut(user_id=actor.user_id, username=actor.username, role=actor.role.value,
                 department_id=actor.department_id)


@router.get("/departments", response_model=list[DepartmentOut])
def list_departments(_actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.list_departments(session)


@router.post("/departments", response_model=DepartmentOut, status_code=201)
def create_department(body: DepartmentIn, actor: Actor = Depends(current_actor),
                      session: Session = SESSION):
    return service.create_department(
        session, actor, name=body.name, level=body.level, region_code=body.region_code, uscc_code=body.uscc,
        parent_id=body.parent_id, is_competent_authority=body.is_competent_authority,
    )


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.create_user(
        session, actor, username=body.username, password=body.password, role=body.role,
        department_id=body.department_id, display_name=body.display_name,
    )


@router.get("/users", response_model=list[UserOut])
def list_users(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.list_users(session, actor)


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate_user(user_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Takes effect at once: the user's every token stops working (R18)."""
    return service.set_user_active(session, actor, user_id, active=False)


@router.post("/users/{user_id}/activate", response_model=UserOut)
def activate_user(user_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.set_user_active(session, actor, user_id, active=True)
