"""Routes for login, tokens, departments and users (thin: the rules are in orgs.service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import current_actor, get_session
from govshare.orgs import service
from govshare.orgs.schemas import (
    DepartmentIn,
    DepartmentOut,
    LoginIn,
    MeOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["orgs"])


@router.post("/auth/login", response_model=TokenOut)
def login(body: LoginIn, request: Request, session: Session = Depends(get_session)) -> TokenOut:
    hours = request.app.state.settings.session_hours
    return TokenOut(token=service.login(session, body.username, body.password, session_hours=hours))


@router.post("/auth/tokens", response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, actor: Actor = Depends(current_actor),
                 session: Session = Depends(get_session)) -> TokenOut:
    return TokenOut(token=service.create_api_token(session, actor, name=body.name, hours=body.hours))


@router.get("/auth/me", response_model=MeOut)
def me(actor: Actor = Depends(current_actor)) -> MeOut:
    return MeOut(user_id=actor.user_id, username=actor.username, role=actor.role.value,
                 department_id=actor.department_id)


@router.get("/departments", response_model=list[DepartmentOut])
def list_departments(_actor: Actor = Depends(current_actor), session: Session = Depends(get_session)):
    return service.list_departments(session)


@router.post("/departments", response_model=DepartmentOut, status_code=201)
def create_department(body: DepartmentIn, actor: Actor = Depends(current_actor),
                      session: Session = Depends(get_session)):
    return service.create_department(
        session, actor, name=body.name, level=body.level, region_code=body.region_code, uscc_code=body.uscc,
        parent_id=body.parent_id, is_competent_authority=body.is_competent_authority,
    )


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, actor: Actor = Depends(current_actor), session: Session = Depends(get_session)):
    return service.create_user(
        session, actor, username=body.username, password=body.password, role=body.role,
        department_id=body.department_id, display_name=body.display_name,
    )
