"""Yizhan chat server: HTTP API, WebSocket endpoint, sessions, hours, crisis, escalation."""
