"""SMS delivery: `steps` (claim, record, receipts, dispatch and sweep: the state
machine of a notification row, each step its own transaction) and `sender` (the
per-process runtime and `send(ids)`, called by the worker's send tasks).
"""
