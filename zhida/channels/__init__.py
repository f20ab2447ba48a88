"""Notifications from transitions: `plan` + `plan_store` (rows planned in batches),
`templates` + `sms_text` (sandboxed Jinja2, segments), `links` (application tokens),
`inbox`, `optout`, `ratelimit` (the shared token bucket), `check` (a policy's SMS
template checked), `sms` (providers) and `delivery` (sending, receipts, the sweeper).
"""
