"""Institutions: few, rich agents (mesa.Agent subclasses) that act on the firm arrays."""

from .government import ProvincialGovernment
from .services import ProviderMarket, ServiceProvider

__all__ = ["ProvincialGovernment", "ProviderMarket", "ServiceProvider"]
