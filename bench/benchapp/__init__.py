"""Bench-only app: copies of the Task model for the capture-overhead bench."""
