"""The FastAPI application (`zhida serve`): thin routes; domain errors mapped in one place."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from zhida.api.errors import register_error_handlers
from zhida.api.routes import applications, inbox, webhooks
from zhida.api.security import STATIC_DIR


def create_app() -> FastAPI:
    app = FastAPI(title="zhida 政策直达", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.include_router(webhooks.router)
    app.include_router(inbox.router)
    app.include_router(applications.router)
    register_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
