"""The policy lifecycle: `officers` (roles and tokens), `versions` (submit, find,
approve, published versions), `audit` (the append-only log), `catalogue` (the Policy
of a stored version) and `errors` (PublishError).
"""
