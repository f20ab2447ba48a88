"""The web application (FastAPI): `app.create_app()`; routes in `api.routes`, the
signed-in session and CSRF in `security`, domain errors mapped to HTTP in `errors`,
typed dependencies (`SessionDep`, `SettingsDep`) in `deps`.
"""
