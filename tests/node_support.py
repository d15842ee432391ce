"""Running the Node.js parts of the tests: the board's browser check and the Node client.

``deploy/scripts/bootstrap.sh --with-browser`` (what ``make test`` runs) installs Debian's
``chromium`` and runs ``npm ci`` in both package directories. A test run without it still
installs the npm packages itself (``npm ci`` from the lock file, like the fan-out bench); a
missing Node.js or chromium fails the test with the command that fixes it, never skips: CI
must exercise the browser.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = REPO_ROOT / "tests" / "browser"
NODE_CLIENT_DIR = REPO_ROOT / "deploy" / "examples" / "node-client"
ARTIFACTS_DIR = REPO_ROOT / "tests" / "artifacts"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
FIX = "bash deploy/scripts/bootstrap.sh --with-browser"
NPM_CI_TIMEOUT_SECS = 300


def chromium_path() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"Debian's chromium is not installed; run `{FIX}` (as root: it apt-installs it)")


def node_path() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail(f"Node.js is not installed; run `{FIX}`")
    return found


def ensure_npm_packages(package_dir: Path, package: str) -> None:
    """``npm ci`` in ``package_dir`` unless ``package`` is installed at the locked version."""
    lock = json.loads((package_dir / "package-lock.json").read_text())
    wanted = lock["packages"][f"node_modules/{package}"]["version"]
    installed = package_dir / "node_modules" / package / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is not installed; run `{FIX}`")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=package_dir,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_SECS,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"npm ci in {package_dir} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object (a Node script's report)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def step(lines: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [line for line in lines if line.get("step") == name]
    assert found, f"no {name!r} step in the script's output: {lines}"
    return found[-1]


async def run_node(
    script: Path, *args: str, cwd: Path, timeout_secs: float
) -> tuple[int, str, str]:
    """Run ``node script args`` to the end without blocking the event loop the hub serves on."""
    proc = await asyncio.create_subprocess_exec(
        node_path(),
        str(script),
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_secs)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        pytest.fail(f"{script.name} did not finish in {timeout_secs} s: {out.decode()[-3000:]}")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
