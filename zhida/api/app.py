"""The FastAPI application (`zhida serve`): thin routes; domain errors mapped in one place."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from zhida.api.errors import register_error_handlers
from zhida.api.routes import (
    aliyun_webhooks,
    applications,
    inbox,
    me,
    me_link,
    officer_admin,
    officer_disputes,
    officer_pages,
    officer_policies,
    officer_runs,
    webhooks,
)
from zhida.api.security import STATIC_DIR


class TrailingSlashRedirect:
    """`GET /inbox/` -> `/inbox`, by a relative Location: Starlette's own slash redirect
    builds an absolute URL from the request's Host header, so a forged Host made the
    site redirect to another site."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and len(path) > 1
            and path.endswith("/")
            and not path.startswith("/static/")
        ):
            query = scope.get("query_string", b"").decode("latin-1")
            target = "/" + path.strip("/") + (f"?{query}" if query else "")
            await RedirectResponse(target, status_code=307)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app() -> FastAPI:
    app = FastAPI(
        title="zhida 政策直达",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redirect_slashes=False,
    )
    app.add_middleware(TrailingSlashRedirect)
    app.include_router(webhooks.router)
    app.include_router(aliyun_webhooks.router)
    app.include_router(inbox.router)
    app.include_router(applications.router)
    app.include_router(officer_policies.router)
    app.include_router(officer_runs.router)
    app.include_router(officer_admin.router)
    app.include_router(officer_disputes.router)
    app.include_router(officer_pages.router)
    app.include_router(me.router)
    app.include_router(me_link.router)
    register_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
