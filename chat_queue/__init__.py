"""Waiting queue, counselor presence and capacity, matching (Redis only)."""
