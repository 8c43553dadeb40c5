"""Reference data loaded by migration 0002: the category trees of every kind (domain-rules §2,
国网(营销/4)272-2014 附件1 for the five complaint categories) and the root causes an
improvement action is filed under. Edited afterwards in the admin; this is the starting set.

Each category: (code, parent code or None, Chinese name, English name, intake keywords).
"""

from __future__ import annotations

from typing import Any

CATEGORIES: dict[str, list[tuple[str, str | None, str, str, str]]] = {
    "complaint": [
        ("cmp_service", None, "服务投诉", "Service", "态度 服务 工作人员 营业厅 网站 App 推诿 刁难"),
        (
            "cmp_service_attitude",
            "cmp_service",
            "服务态度",
            "Staff attitude",
            "态度 恶劣 骂人 不耐烦 推诿 刁难",
        ),
        ("cmp_service_conduct", "cmp_service", "服务规范", "Staff conduct", "吃拿卡要 收礼 违规 不规范 着装"),
        ("cmp_service_hall", "cmp_service", "营业厅服务", "Business hall", "营业厅 排队 营业时间 设施 叫号"),
        (
            "cmp_service_online",
            "cmp_service",
            "网站与App",
            "Web and app",
            "网站 App 网上国网 打不开 登录 小程序",
        ),
        ("cmp_business", None, "营业投诉", "Business", "业扩 报装 电费 电价 抄表 计量 收费"),
        (
            "cmp_business_connection",
            "cmp_business",
            "业扩报装",
            "New connection",
            "报装 装表 接电 新装 增容 超时",
        ),
        (
            "cmp_business_change",
            "cmp_business",
            "用电变更",
            "Service change",
            "过户 更名 销户 暂停 减容 变更",
        ),
        (
            "cmp_business_reading",
            "cmp_business",
            "抄表催费",
            "Reading and dunning",
            "抄表 估抄 催费 欠费 停电通知",
        ),
        (
            "cmp_business_tariff",
            "cmp_business",
            "电费电价",
            "Tariff and charges",
            "电费 电价 阶梯 峰谷 多收 太高 违约金",
        ),
        ("cmp_business_metering", "cmp_business", "电能计量", "Metering", "电表 走得快 计量 校验 表计 换表"),
        ("cmp_business_fees", "cmp_business", "业务收费", "Service fees", "收费 乱收费 费用 发票"),
        ("cmp_outage", None, "停送电投诉", "Outage", "停电 送电 抢修 复电 通知"),
        (
            "cmp_outage_notice",
            "cmp_outage",
            "停电信息告知",
            "Outage notice",
            "停电 没有通知 未通知 提前 公告",
        ),
        (
            "cmp_outage_plan",
            "cmp_outage",
            "停电计划执行",
            "Plan execution",
            "计划停电 超时 提前送电 延迟送电",
        ),
        ("cmp_outage_repair", "cmp_outage", "抢修服务", "Repair service", "抢修 到达 迟到 修不好 不来"),
        ("cmp_quality", None, "供电质量投诉", "Supply quality", "电压 低电压 频繁停电 闪断 可靠性"),
        ("cmp_quality_voltage", "cmp_quality", "电压质量", "Voltage", "电压 低 高 不稳 灯暗 电器烧"),
        (
            "cmp_quality_reliability",
            "cmp_quality",
            "供电可靠性",
            "Reliability",
            "频繁停电 经常停电 闪断 跳闸",
        ),
        ("cmp_grid", None, "电网建设投诉", "Grid construction", "施工 电杆 线路 变压器 噪音"),
        ("cmp_grid_construction", "cmp_grid", "施工行为", "Construction works", "施工 挖 损坏 占道 赔偿"),
        (
            "cmp_grid_facility",
            "cmp_grid",
            "电力设施",
            "Grid facilities",
            "电杆 线路 变压器 噪音 辐射 安全隐患",
        ),
    ],
    "report": [
        ("rpt_theft", None, "窃电举报", "Electricity theft", "偷电 窃电 私拉乱接 绕表 改表"),
        ("rpt_violation", None, "违约用电举报", "Contract violation", "违约 转供 私增容量 改变用途"),
        ("rpt_staff", None, "员工违规举报", "Staff misconduct", "吃拿卡要 索要 收受 违规 乱收费"),
        ("rpt_other", None, "其他举报", "Other report", "举报"),
    ],
    "opinion": [
        ("opn_service", None, "服务意见", "Service", "服务 态度 营业厅"),
        ("opn_business", None, "营业意见", "Business", "电费 电价 交费 业扩"),
        ("opn_grid", None, "电网意见", "Grid", "停电 电压 线路"),
    ],
    "suggestion": [
        ("sug_service", None, "服务建议", "Service", "建议 服务 营业厅 App"),
        ("sug_business", None, "营业建议", "Business", "建议 交费 电费 办电"),
        ("sug_grid", None, "电网建议", "Grid", "建议 线路 改造"),
    ],
    "inquiry": [
        ("inq_tariff", None, "电价电费", "Tariffs and bills", "电价 电费 阶梯 峰谷 多少钱 账单"),
        ("inq_payment", None, "交费方式", "How to pay", "交费 缴费 支付 代扣 发票 余额"),
        ("inq_connection", None, "办电业务", "Applications", "报装 新装 增容 过户 更名 办电 充电桩 光伏"),
        ("inq_outage", None, "停电信息", "Outages", "停电 什么时候来电 计划停电 抢修"),
        ("inq_metering", None, "电表计量", "Meters", "电表 读数 校验 换表"),
        ("inq_other", None, "其他咨询", "Other", "咨询"),
    ],
    "service_request": [
        ("sr_reconnect", None, "复电登记", "Reconnection after payment", "复电 已交费 来电 欠费停电"),
        ("sr_appliance", None, "电器损坏", "Appliance damage", "电器 烧坏 损坏 赔偿"),
        ("sr_meter_fault", None, "电能表异常", "Meter fault", "电表 不走 黑屏 坏了 异常"),
        ("sr_reading_error", None, "抄表数据异常", "Reading data error", "抄表 读数 不对 数据 异常 电量突增"),
        ("sr_other", None, "其他服务申请", "Other service request", "申请"),
    ],
}

ROOT_CAUSES: list[tuple[str, str, str]] = [
    ("staff_skill", "人员技能不足", "Staff skills"),
    ("staff_attitude", "服务意识与态度", "Staff attitude"),
    ("process", "业务流程缺陷", "Process defect"),
    ("time_limit", "办理时限管控不力", "Deadline control"),
    ("information", "信息告知不到位", "Information to customers"),
    ("system", "信息系统问题", "IT system"),
    ("equipment", "设备设施缺陷", "Equipment"),
    ("grid", "电网结构薄弱", "Weak grid"),
    ("policy", "政策理解差异", "Policy misunderstanding"),
    ("customer", "客户自身原因", "Customer side"),
    ("third_party", "第三方原因", "Third party"),
]


def load(apps: Any) -> None:
    """Insert or update the starting categories and root causes (idempotent)."""
    category = apps.get_model("workorders", "Category")
    root_cause = apps.get_model("workorders", "RootCause")
    for kind, rows in CATEGORIES.items():
        for sort, (code, parent_code, name, name_en, keywords) in enumerate(rows):
            parent = category.objects.get(code=parent_code) if parent_code else None
            category.objects.update_or_create(
                code=code,
                defaults={
                    "kind": kind,
                    "parent": parent,
                    "name": name,
                    "name_en": name_en,
                    "keywords": keywords,
                    "sort": sort,
                },
            )
    for sort, (code, name, name_en) in enumerate(ROOT_CAUSES):
        root_cause.objects.update_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "sort": sort}
        )
