"""HTTP routes, one module per audience: `applications` (`/a/TOKEN`, the prefilled
form), `inbox` (the signed-in inbox and its Server-Sent Events), `webhooks` (Twilio
receipts and inbound SMS, signed).
"""
