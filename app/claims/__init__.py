"""Employees' own claims on corporate numbers (DOMAIN.md, flow B) and the company's decision."""
