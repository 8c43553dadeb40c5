"""The inspection router (mounted at /api/inspection/): one sub-router per area."""

from ninja import Router

from gridcare.inspection.api import cases, risk, tasks

router = Router()
router.add_router("", risk.router)
router.add_router("", tasks.router)
router.add_router("", cases.router)
