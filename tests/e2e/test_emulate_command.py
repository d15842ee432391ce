"""``seva emulate`` runs a gateway emulator that answers its control API and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest


@pytest.mark.parametrize(
    ("gateway", "merchant"),
    [("razorpay", "rzp_test_key:key_secret:whsec"), ("cashfree", "cf_client:cf_secret")],
)
def test_seva_emulate_serves_the_control_api_and_stops_on_sigterm(gateway, merchant):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "emulate",
            gateway,
            "--port",
            "0",
            "--merchant",
            merchant,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        announced = json.loads(proc.stdout.readline())
        assert announced["gateway"] == gateway
        with urllib.request.urlopen(f"{announced['url']}/_emulator/health", timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
