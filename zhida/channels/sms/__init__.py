"""SMS providers: one small interface (`base`), one module per provider, and the
registry that picks one from the settings (`registry.get_provider`, the only module
that imports them all)."""

from zhida.channels.sms.base import (
    INVALID_NUMBER,
    OUTBOX_KEYS,
    UNSUBSCRIBED,
    ProviderError,
    SendResult,
    SmsProvider,
    mask_phone,
)
from zhida.channels.sms.file_sink import FileSink
from zhida.channels.sms.recording import RecordingProvider, Sent

__all__ = [
    "INVALID_NUMBER",
    "OUTBOX_KEYS",
    "UNSUBSCRIBED",
    "FileSink",
    "ProviderError",
    "RecordingProvider",
    "SendResult",
    "Sent",
    "SmsProvider",
    "mask_phone",
]
