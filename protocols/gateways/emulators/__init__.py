"""Local Razorpay and Cashfree PG emulators: real HTTP servers the official SDKs run against
unchanged, with per-merchant state, a checkout stand-in, signed webhooks (duplicated,
reordered, delayed, held or dropped on request) and switchable faults.

::

    app = create_razorpay_emulator(RazorpayEmulatorConfig(merchants=(...,)))
    async with run_emulator(app, port=0) as base_url:
        client = razorpay.Client(auth=(key_id, key_secret), base_url=base_url)

See ``README.md`` next to this file for the routes and the control API (``/_emulator/...``);
the gateway modules' docstrings say what is emulated and where it differs from the real API.
Never expose an emulator beyond localhost: its control API has no authentication.
"""

from __future__ import annotations

from protocols.gateways.emulators.cashfree import (
    CashfreeEmulatorConfig,
    CashfreeMerchant,
    create_cashfree_emulator,
)
from protocols.gateways.emulators.common import run_emulator
from protocols.gateways.emulators.faults import FaultPolicy
from protocols.gateways.emulators.razorpay import (
    RazorpayEmulatorConfig,
    RazorpayMerchant,
    create_razorpay_emulator,
)
from protocols.gateways.emulators.webhooks import WebhookPolicy

__all__ = [
    "CashfreeEmulatorConfig",
    "CashfreeMerchant",
    "FaultPolicy",
    "RazorpayEmulatorConfig",
    "RazorpayMerchant",
    "WebhookPolicy",
    "create_cashfree_emulator",
    "create_razorpay_emulator",
    "run_emulator",
]
