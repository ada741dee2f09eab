"""Reaching open browsers: websocket groups, the consumer, and its route."""
