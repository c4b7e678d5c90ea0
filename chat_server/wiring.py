"""Assembles the app from its features: the one place that knows every route."""

from __future__ import annotations

from starlette.applications import Starlette

from chat_server.app import create_app
from chat_server.config import Settings


def build_app(settings: Settings) -> Starlette:
    return create_app(settings)
