"""Notifications: the outbox written with the change that causes it, and its delivery."""
