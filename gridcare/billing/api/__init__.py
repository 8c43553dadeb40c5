"""The billing router (mounted at /api/billing/): one sub-router per area."""

from ninja import Router

from gridcare.billing.api import bills, payments, prepaid, quote, runs

router = Router()
router.add_router("", quote.router)
router.add_router("", runs.router)
router.add_router("", bills.router)
router.add_router("", payments.router)
router.add_router("", prepaid.router)
