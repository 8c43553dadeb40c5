"""GridCare — 电力营销客户服务管理系统 (customer service and marketing for power supply companies)."""

__version__ = "0.1.0"
