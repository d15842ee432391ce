"""``python -m protocols.gateways.emulators razorpay|cashfree [--port N] [--merchant ...]``."""

from __future__ import annotations

import sys

from protocols.gateways.emulators.serve import main

sys.exit(main())
