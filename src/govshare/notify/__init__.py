"""Notifications: in-app messages for every party of every step, and signed webhooks through an outbox."""
