"""Authorization (R18): what mutation testing of `govshare.authz` found untested (docs/testing.md).

Each test names the mutants it kills (`mutmut show NAME` prints one). Every refusal names the field and the
rule in Chinese (R18's contract of every error); a competent authority supervises exactly the departments of
its own administrative area (a county's authority not its neighbours); the CLI's --user acts as that user."""

from __future__ import annotations

import pytest

from govshare.audit import service as audit
from govshare.authz import Actor, actor_named, region_prefix, require_authority_over, require_own_department
from govshare.errors import Forbidden, NotFound
from govshare.orgs import service as orgs
from govshare.orgs import systems
from govshare.orgs.models import Role
from tests.factories import PASSWORD, SYSTEM, make_uscc
from tests.test_audit import _append


def _raised(error_type, call, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        call(*args, **kwargs)
    return raised.value.field, raised.value.message


def _authority_reviewer(session, username: str, region_code: str, serial: int) -> Actor:
    """An authority reviewer of a new competent authority of the region."""
    department = orgs.create_department(session, SYSTEM, name=f"{region_code}数据资源局", level="county",
                                        region_code=region_code, uscc_code=make_uscc(serial),
                                        is_competent_authority=True)
    user = orgs.create_user(session, SYSTEM, username=username, password=PASSWORD,
                            role=Role.AUTHORITY_REVIEWER.value, department_id=department.id)
    session.flush()
    return Actor.from_user(user)


def test_r18_a_role_refusal_names_every_role_that_may_act(session, world):
    """Kills x_require_role__mutmut_5 (the roles joined by another separator) and 6/8/10/11 (the message or
    the field `role`)."""
    assert _raised(Forbidden, systems.register_system, session, world.actors["police_manager"], "核验系统") == \
        ("role", "当前角色无权登记应用系统（需要角色：requester、dept_reviewer）")


def test_r18_another_departments_data_is_refused_naming_the_department(session, world):
    """Kills x_require_own_department__mutmut_3/5 (the message dropped) and 4/6/7/8 (the field
    `department_id`)."""
    assert _raised(Forbidden, require_own_department, world.actors["civil_requester"], world.ids["police"],
                   action="管理") == ("department_id", "不能管理其他部门的数据")


def test_r18_an_authority_supervises_exactly_its_own_area(session, world):
    """A province covers its cities and counties, a city its counties, a county only itself. Kills
    x_region_prefix__mutmut_4 (a county code cut down to its province), x_require_authority_over__mutmut_10
    to 15 (the refusal's message or field `provider`) and 3 (the action left out of the role refusal)."""
    county = _authority_reviewer(session, "county_reviewer", "340104", 90)
    for actor, covered, beyond in ((world.actors["reviewer"], "340104", "360100"),
                                   (world.actors["city_reviewer"], "340104", "340200"),
                                   (county, "340104", "340111")):
        require_authority_over(actor, covered, action="审核目录")
        assert _raised(Forbidden, require_authority_over, actor, beyond, action="审核目录") == \
            ("provider", "不在本主管部门管辖范围内，无权审核目录")
    assert _raised(Forbidden, require_authority_over, world.actors["police_reviewer"], "340104", action="审核目录") == \
        ("role", "当前角色无权审核目录（需要角色：authority_reviewer）")


def test_r18_a_cli_user_is_named_and_must_be_active(session, world):
    """Kills x_actor_named__mutmut_8 to 13 (the unknown user's message or field `user`) and 15 to 20 (the
    deactivated user's)."""
    assert actor_named(session, "police_reviewer") == world.actors["police_reviewer"]
    assert actor_named(session, None) == actor_named(session, "") == Actor.system()
    assert _raised(NotFound, actor_named, session, "nobody") == ("user", "用户不存在：nobody")
    orgs.set_user_active(session, SYSTEM, world.ids["user:police_reviewer"], active=False)
    assert _raised(Forbidden, actor_named, session, "police_reviewer") == ("user", "用户已停用：police_reviewer")


def test_r12_a_manual_checkpoint_names_who_signed_it(db, world):
    """The note of a checkpoint signed by hand names the signer: the node operator (`govshare audit checkpoint`
    without --user) as `system`, a user by name. Kills xǁActorǁsystem__mutmut_1/7/8 (the operator's name lost
    or changed) and xǁActorǁfrom_user__mutmut_2 (a user's name lost)."""
    _append(db, 1)
    with db.session() as s:
        assert audit.checkpoint(s, Actor.system()).note == "手动签名（system）"
    _append(db, 1)
    with db.session() as s:
        assert audit.checkpoint(s, actor_named(s, "admin")).note == "手动签名（admin）"


def test_r18_a_department_without_a_region_covers_no_area():
    """Callers skip the area filter when the prefix is empty (`if prefix`); an empty or missing region code
    must give an empty prefix, never a made-up one. Kills x_region_prefix__mutmut_3."""
    assert region_prefix("") == region_prefix(None) == ""
    assert region_prefix(" 341700 ") == "3417"


def test_r18_the_node_operator_acts_as_the_platform_admin():
    """`govshare` commands run without --user act as the platform administrator, also where a rule asks
    the role rather than `is_system`. Kills xǁActorǁsystem__mutmut_2 (the operator without a role)."""
    operator = Actor.system()
    assert operator.is_system and operator.has(Role.PLATFORM_ADMIN)
    assert operator.role is Role.PLATFORM_ADMIN
