"""The policy lifecycle, from a submitted draft to the compiled Policy of a stored version.

Public API, by module:

- `catalogue`: `compiled(version)` and `compiled_by_id(session, ids)` give a stored
  version's `CompiledVersion` (its `policy`, the audience's `schema`, the pack's
  `schemas` and `extension`), compiled once per process in a bounded, thread-safe
  cache (`CATALOGUE`, a `Catalogue`); `schemas_from(schema_yaml)` for text not yet
  stored; `content_sha256(yaml_text, schema_yaml)`, the hash `submit` stores.
- `versions`: `check_policy` (load and run a policy's tests), `submit`,
  `find_version`, `approve`, `published_versions`, `published_version` (the one
  in force for a policy); `VersionStatus`
  (draft, published, retired).
- `officers`: `Role` (author, approver, admin; `ROLES`, `MAY_SUBMIT`,
  `MAY_APPROVE`), `add_officer`, `officer_by_token` (tokens stored as `zhida.redact.hash_token`).
- `audit`: `audit(session, officer, action, subject, detail)`, the append-only log.
- `errors`: `PublishError`, every refused step.
"""
