"""The work-order router (mounted at /api/workorders/): one sub-router per area."""

from ninja import Router

from gridcare.workorders.api import knowledge, orders

router = Router()
router.add_router("", orders.router)
router.add_router("", knowledge.router)
