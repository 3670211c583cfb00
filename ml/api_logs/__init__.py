"""Daily API-request KPIs: the synthetic extract generator."""
