"""Signed webhooks: a firm's own systems hear its events (Standard Webhooks)."""
