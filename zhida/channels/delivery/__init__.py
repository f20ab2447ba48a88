"""SMS delivery, one job a module: `steps` (the state machine of a notification row:
claim, skip, release, record sent or error, each in the caller's transaction),
`schedule` (quiet hours, backoff, the send rate), `receipts` (delivery receipts and
the stash of early ones), `sweep` (the periodic passes: dispatch_due and sweep),
`batch` (sending a batch of rows with the steps) and `sender` (the per-process runtime
and `send(ids)`, called by the worker's send tasks).
"""
