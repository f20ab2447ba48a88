"""The database: `models` (SQLAlchemy), `db` (engines, sessions, Alembic), `bulk`
(COPY and batched inserts), `profiles` (frames of stored profiles by id range), and
the migrations.
"""
