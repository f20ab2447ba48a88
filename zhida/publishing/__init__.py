"""The policy lifecycle: `versions` (officers and their tokens, submit, approve, the
audit log, published versions and the Policy of a stored version).
"""
