"""Departments, users, roles and tokens."""
