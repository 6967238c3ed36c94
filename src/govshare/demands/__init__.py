"""Demand list (需求清单, R20): needs the catalog does not meet yet, matched or routed to a provider."""
