"""Institutions: few, rich agents (mesa.Agent subclasses) that act on the firm arrays."""

from .bank import Bank, LeasingPartner
from .government import CityGovernment, ProvincialGovernment
from .services import ExpertGroup, ProviderMarket, ServiceProvider, expert_groups

__all__ = ["Bank", "CityGovernment", "ExpertGroup", "LeasingPartner", "ProvincialGovernment", "ProviderMarket",
           "ServiceProvider", "expert_groups"]
