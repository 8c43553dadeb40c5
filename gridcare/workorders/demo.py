"""Demo work orders for ``gridcare seed``: the teams of a county's customer-service centre, the
knowledge base, and a month of 95598 traffic in every state of the closed loop — some met,
some near their deadline, some breached and escalated (the SLA tick runs at the end), a
repeat complaint, a major one, a report with its reporter kept apart, and an unsatisfied
follow-up that reopened its complaint. Everything goes through the real services.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from gridcare.core.roles import (
    BILLING_CLERK,
    COUNTER_CLERK,
    HOTLINE_AGENT,
    INSPECTOR,
    METERING_TECH,
    SERVICE_MANAGER,
)
from gridcare.customers.models import Account
from gridcare.workorders.models import Team, WorkOrder
from gridcare.workorders.services.clocks import sla_tick
from gridcare.workorders.services.orders import teams_cache, work_order_create, work_order_transition

TEAMS = [
    # code, name, supervisor role, member roles, default kinds
    (
        "KF95598",
        "95598客服班",
        SERVICE_MANAGER,
        [HOTLINE_AGENT, SERVICE_MANAGER],
        ["complaint", "opinion", "suggestion", "inquiry"],
    ),
    ("YYB", "营业班", SERVICE_MANAGER, [COUNTER_CLERK, BILLING_CLERK], ["service_request"]),
    ("JLB", "计量班", SERVICE_MANAGER, [METERING_TECH], []),
    ("YDJC", "用电检查班", SERVICE_MANAGER, [INSPECTOR], ["report"]),
]

COMPLAINTS = [
    (
        "cmp_business_tariff",
        "电费比上月高出很多,怀疑多收",
        "客户称家中用电习惯未变,本月电费较上月高出一倍,要求核查。",
    ),
    ("cmp_outage_notice", "停电前没有收到任何通知", "昨日上午小区停电三小时,客户称未收到短信或公告。"),
    ("cmp_outage_repair", "报修后抢修人员迟迟不到", "客户报修两小时后抢修人员仍未到达现场。"),
    ("cmp_service_attitude", "营业厅工作人员态度不好", "客户在营业厅办理业务时,工作人员不耐烦、推诿。"),
    ("cmp_quality_voltage", "晚上电压低,空调无法启动", "近一周每晚七点至十点电压偏低,灯光昏暗。"),
    ("cmp_business_connection", "新装电表超过承诺时限未装", "居民新装申请已受理七个工作日,仍未装表接电。"),
    ("cmp_business_metering", "电表走得太快", "客户认为电能表计量不准,要求说明并校验。"),
    ("cmp_grid_facility", "变压器噪音大影响休息", "小区旁边的变压器夜间噪音明显。"),
]
INQUIRIES = [
    ("inq_tariff", "阶梯电价怎么计算", "一户一表居民年用电量按 2160 / 4200 kWh 分三档计价,详见知识库。"),
    ("inq_payment", "有哪些交费方式", "可通过网上国网App、营业厅、银行代扣、微信和支付宝交费。"),
    ("inq_outage", "今天为什么停电,什么时候来电", "经查为计划检修停电,预计下午五点恢复供电。"),
    (
        "inq_connection",
        "安装充电桩需要什么材料",
        "需身份证、车位产权或使用证明、物业同意书,可在网上国网申请。",
    ),
]
REQUESTS = [
    ("sr_reconnect", "已交清欠费,申请复电"),
    ("sr_meter_fault", "电表黑屏不显示"),
    ("sr_reading_error", "本月抄表读数比实际大"),
    ("sr_appliance", "雷雨后家中电器损坏"),
]
OPINIONS = [
    ("opinion", "opn_service", "营业厅周末开放时间太短"),
    ("suggestion", "sug_service", "建议App增加电费分析图表"),
]


def _users() -> dict[str, Any]:
    return {
        u.username: u
        for u in get_user_model().objects.filter(
            username__in=[
                HOTLINE_AGENT,
                SERVICE_MANAGER,
                COUNTER_CLERK,
                BILLING_CLERK,
                METERING_TECH,
                INSPECTOR,
            ]
        )
    }


def seed_teams() -> dict[str, Team]:
    """The four teams, their supervisor and members (by the demo logins' user names)."""
    users = _users()
    teams: dict[str, Team] = {}
    for code, name, supervisor, members, kinds in TEAMS:
        team, _ = Team.objects.update_or_create(
            code=code, defaults={"name": name, "supervisor": users.get(supervisor), "kinds": kinds}
        )
        team.members.add(*[users[m] for m in members if m in users])
        teams[code] = team
    teams_cache.clear()
    return teams


def seed_workorders(
    *, seed: int = 1, days: int = 30, log: Callable[[str], Any] = print, now: dt.datetime | None = None
) -> dict[str, int]:
    """Seed teams, the knowledge base and about ``4 × days`` work orders over the last ``days``
    days, then run the SLA tick. Returns counts."""
    rng = random.Random(seed)
    now = now or timezone.now()
    users = _users()
    agent, manager, clerk = users.get(HOTLINE_AGENT), users.get(SERVICE_MANAGER), users.get(COUNTER_CLERK)
    if agent is None or manager is None or clerk is None:
        log("  work orders skipped: the demo logins are missing")
        return {"orders": 0}
    from gridcare.workorders.demo_knowledge import seed_knowledge

    with transaction.atomic():
        teams = seed_teams()
        articles = seed_knowledge()
    accounts = list(Account.objects.select_related("customer").filter(status="active").order_by("id")[:400])
    if not accounts:
        log("  work orders skipped: no accounts")
        return {"orders": 0}
    created = 0

    def step(order: WorkOrder, who: Any, transition: str, at: dt.datetime, **fields: Any) -> WorkOrder:
        at = min(at, now - dt.timedelta(minutes=5))  # never in the future
        return work_order_transition(
            actor=who,
            number=order.number,
            transition=transition,
            expected_version=order.version,
            fields=fields,
            at=at,
        )

    start = now - dt.timedelta(days=days)
    for day in range(days):
        for _ in range(4):
            at = start + dt.timedelta(days=day, hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
            if at >= now:
                continue
            account = rng.choice(accounts)
            customer = account.customer
            roll = rng.random()
            with transaction.atomic():
                if roll < 0.45:
                    category, subject, description = rng.choice(COMPLAINTS)
                    order = work_order_create(
                        actor=agent,
                        kind="complaint",
                        channel=rng.choice(["hotline", "hotline", "app", "gov_12345"]),
                        category=category,
                        subject=subject,
                        description=description,
                        account_number=account.number,
                        contact_name=customer.name,
                        contact_phone=customer.mobile,
                        external_ref="",
                        at=at,
                    )
                    age = (now - at).total_seconds() / 86400
                    if age > 1.5 or rng.random() < 0.6:
                        order = step(
                            order,
                            agent,
                            "contact",
                            at + dt.timedelta(hours=rng.randint(1, 20)),
                            method="phone",
                            outcome="reached",
                            note="已与客户联系,说明处理流程。",
                        )
                    if age > 2:
                        order = step(
                            order,
                            agent,
                            "assign",
                            at + dt.timedelta(hours=21),
                            team="KF95598",
                            assignee=HOTLINE_AGENT,
                        )
                    if age > 5 and rng.random() < 0.8:
                        order = step(
                            order,
                            agent,
                            "reply",
                            at + dt.timedelta(days=rng.randint(2, 4)),
                            note="经核查已处理,向客户答复处理结果。",
                        )
                        if age > 8:
                            unhappy = rng.random() < 0.15
                            order = step(
                                order,
                                agent,
                                "follow_up",
                                at + dt.timedelta(days=5),
                                method="phone",
                                satisfaction="unsatisfied"
                                if unhappy
                                else rng.choice(["satisfied", "satisfied", "basically_satisfied"]),
                                note="回访客户。",
                            )
                            if not unhappy and age > 10:
                                order = step(
                                    order,
                                    manager,
                                    "improve",
                                    at + dt.timedelta(days=6),
                                    root_cause=rng.choice(["information", "staff_skill", "process"]),
                                    action="纳入班组周例会案例,完善告知话术。",
                                )
                                order = step(order, manager, "close", at + dt.timedelta(days=6, hours=2))
                elif roll < 0.70:
                    category, subject, answer = rng.choice(INQUIRIES)
                    work_order_create(
                        actor=agent,
                        kind="inquiry",
                        channel="hotline",
                        category=category,
                        subject=subject,
                        contact_name=customer.name,
                        contact_phone=customer.mobile,
                        answer=answer,
                        at=at,
                    )
                elif roll < 0.90:
                    category, subject = rng.choice(REQUESTS)
                    order = work_order_create(
                        actor=clerk,
                        kind="service_request",
                        channel=rng.choice(["counter", "hotline"]),
                        category=category,
                        subject=subject,
                        account_number=account.number,
                        contact_name=customer.name,
                        contact_phone=customer.mobile,
                        at=at,
                    )
                    if (now - at).days > 3:
                        if category == "sr_reconnect":
                            order = step(order, clerk, "restore", at + dt.timedelta(hours=6))
                        order = step(
                            order, clerk, "complete", at + dt.timedelta(days=1), note="已处理并答复客户。"
                        )
                        order = step(order, clerk, "close", at + dt.timedelta(days=1, hours=1))
                else:
                    kind, category, subject = rng.choice(OPINIONS)
                    work_order_create(
                        actor=agent,
                        kind=kind,
                        channel="app",
                        category=category,
                        subject=subject,
                        contact_name=customer.name,
                        contact_phone=customer.mobile,
                        at=at,
                    )
            created += 1
    # The cases an operator should find in the demo.
    with transaction.atomic():
        account = accounts[0]
        customer = account.customer
        first = work_order_create(
            actor=agent,
            kind="complaint",
            channel="hotline",
            category="cmp_business_reading",
            subject="抄表员估抄,电费忽高忽低",
            account_number=account.number,
            contact_name=customer.name,
            contact_phone=customer.mobile,
            at=now - dt.timedelta(days=6),
        )
        work_order_create(
            actor=agent,
            kind="complaint",
            channel="hotline",
            category="cmp_business_reading",
            subject="再次反映估抄问题,至今未解决",
            account_number=account.number,
            contact_name=customer.name,
            contact_phone=customer.mobile,
            at=now - dt.timedelta(hours=20),
        )
        work_order_create(
            actor=agent,
            kind="complaint",
            channel="hotline",
            category="cmp_outage_repair",
            subject="抢修现场电线掉落致行人受伤",
            description="客户称抢修现场未设围栏,路人被掉落的电线刮伤,已有媒体到场。",
            account_number=accounts[1].number,
            contact_name=accounts[1].customer.name,
            contact_phone=accounts[1].customer.mobile,
            personal_injury=True,
            media_attention=True,
            at=now - dt.timedelta(minutes=40),
        )
        work_order_create(
            actor=agent,
            kind="report",
            channel="hotline",
            category="rpt_theft",
            subject="有人私拉电线绕表用电",
            description="举报人称某商铺夜间从路灯线路私接电源。",
            reporter={"name": "匿名群众", "phone": "13700000000", "wants_reply": True},
            account_number=accounts[2].number,
            at=now - dt.timedelta(days=3),
        )
        del first
    result = sla_tick(now=now)
    total = WorkOrder.objects.count()
    log(
        f"  work orders: {total} ({len(teams)} teams, {articles} knowledge articles); "
        f"SLA tick warned {result.warned}, breached {result.breached}"
    )
    return {"orders": total, "articles": articles, **result.as_dict()}
