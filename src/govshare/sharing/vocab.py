"""Vocabularies of sharing: request states and their legal moves, decisions, dispute levels, grant ends."""

from __future__ import annotations

from govshare.catalog.vocab import LabelledEnum


class RequestStatus(LabelledEnum):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "待答复"
    APPROVED = "approved", "已同意"
    PARTLY_APPROVED = "partly_approved", "部分同意"
    REFUSED = "refused", "不予同意"
    ESCALATED = "escalated", "争议处理中"
    WITHDRAWN = "withdrawn", "已撤回"
    EXPIRED = "expired", "已到期"
    REVOKED = "revoked", "已撤销"


S = RequestStatus
# The state machine of a request (R07, R08, R10). Anything else is a 409 naming the current state.
TRANSITIONS: dict[RequestStatus, set[RequestStatus]] = {
    S.DRAFT: {S.SUBMITTED, S.WITHDRAWN},
    S.SUBMITTED: {S.APPROVED, S.PARTLY_APPROVED, S.REFUSED, S.WITHDRAWN, S.ESCALATED},
    S.APPROVED: {S.EXPIRED, S.REVOKED},
    S.PARTLY_APPROVED: {S.ESCALATED, S.EXPIRED, S.REVOKED},
    S.REFUSED: {S.ESCALATED},
    S.ESCALATED: {S.APPROVED, S.PARTLY_APPROVED, S.REFUSED, S.WITHDRAWN, S.EXPIRED, S.REVOKED},
    S.WITHDRAWN: set(),
    S.EXPIRED: set(),
    S.REVOKED: set(),
}
GRANTED = {S.APPROVED, S.PARTLY_APPROVED}
OPEN_STATUSES = {S.DRAFT, S.SUBMITTED, S.ESCALATED}


class Decision(LabelledEnum):
    APPROVE = "approve", "同意"
    APPROVE_IN_PART = "approve_in_part", "部分同意"
    REFUSE = "refuse", "不予同意"


DECISION_OUTCOME = {
    Decision.APPROVE: S.APPROVED,
    Decision.APPROVE_IN_PART: S.PARTLY_APPROVED,
    Decision.REFUSE: S.REFUSED,
}


class DisputeLevel(LabelledEnum):
    """R08: negotiation between the two departments, then the same-level competent authority, then the
    higher-level one. Each has its own deadline (settings)."""

    NEGOTIATION = "negotiation", "双方协商"
    AUTHORITY = "authority", "本级主管部门协调"
    HIGHER_AUTHORITY = "higher_authority", "上级主管部门裁决"


DISPUTE_ORDER = [DisputeLevel.NEGOTIATION, DisputeLevel.AUTHORITY, DisputeLevel.HIGHER_AUTHORITY]


class DisputeStatus(LabelledEnum):
    OPEN = "open", "处理中"
    DECIDED = "decided", "已决定"
    LAPSED = "lapsed", "逾期未决，已上提"
    WITHDRAWN = "withdrawn", "已撤回"
    # R08 + R16: no competent authority of this node other than the parties can settle the step (a party never
    # decides its own dispute); it has no local handler, nobody on this node decides it, it is never overdue here
    REFERRED = "referred", "报上级节点处理"


class GrantStatus(LabelledEnum):
    ACTIVE = "active", "有效"
    SUSPENDED = "suspended", "已暂停"
    ENDED = "ended", "已终止"


class GrantEndReason(LabelledEnum):
    PERIOD_ENDED = "period_ended", "期限届满"
    REVOKED = "revoked", "已撤销"
    PURPOSE_ACHIEVED = "purpose_achieved", "共享目的已实现"
    SERVICE_STOPPED = "service_stopped", "共享服务已停止"
    WITHDRAWN = "withdrawn", "申请已撤回"


class ServiceChangeKind(LabelledEnum):
    STOP = "stop", "停止共享服务"
    CHANGE = "change", "变更共享服务"


class ServiceChangeStatus(LabelledEnum):
    SUBMITTED = "submitted", "待主管部门审批"
    APPROVED = "approved", "已批准"
    REJECTED = "rejected", "不予批准"
    EFFECTIVE = "effective", "已生效"
