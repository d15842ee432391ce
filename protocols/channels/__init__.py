"""Outbound channels for notifications: email (SMTP), SMS (MSG91, DLT templates) and WhatsApp
(Cloud API). The contract is in ``interface.py``; the texts in ``templates.py``."""

from __future__ import annotations

from protocols.channels.interface import (
    CHANNEL_NAMES,
    Channel,
    ChannelError,
    ChannelName,
    OutboundMessage,
    PermanentChannelError,
    RetryableChannelError,
    SendResult,
    build_channels,
    check_template,
)

__all__ = [
    "CHANNEL_NAMES",
    "Channel",
    "ChannelError",
    "ChannelName",
    "OutboundMessage",
    "PermanentChannelError",
    "RetryableChannelError",
    "SendResult",
    "build_channels",
    "check_template",
]
