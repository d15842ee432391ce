#!/usr/bin/env python3
"""Vendor the web board's browser library (socket.io-client) into ``hub/web/vendor/``.

Reads the pin in ``hub/web/vendor.json`` (package, version, tarball URL, npm ``sha512``
integrity), downloads the tarball from the npm registry, refuses it unless its SHA-512 matches
the pin, and copies the listed files out of it. Standard library only, no Node.js needed, so a
fresh Debian with Python 3 can run it. Idempotent: a stamp holding the integrity makes a second
run a no-op.

    python3 deploy/scripts/vendor_board.py [--registry URL] [--tarball FILE] [--force]

``--registry`` replaces ``https://registry.npmjs.org`` in the pinned URL (a mirror);
``--tarball`` uses a local copy instead of downloading (still integrity-checked).
Exit 0 when the files are in place, 1 with a one-line reason otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "hub" / "web" / "vendor.json"
VENDOR_DIR = ROOT / "hub" / "web" / "vendor"
STAMP = VENDOR_DIR / ".integrity"
NPM_REGISTRY = "https://registry.npmjs.org"
DOWNLOAD_TIMEOUT_SECS = 60


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def up_to_date(manifest: dict[str, object], files: dict[str, str]) -> bool:
    if not STAMP.is_file() or STAMP.read_text().strip() != manifest["integrity"]:
        return False
    return all((VENDOR_DIR / name).is_file() for name in files.values())


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "seva-hub-vendor-board"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECS) as response:
        return response.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=None, help="npm registry base URL (a mirror)")
    parser.add_argument("--tarball", type=Path, default=None, help="use this local tarball")
    parser.add_argument("--force", action="store_true", help="vendor again even if stamped")
    args = parser.parse_args()

    manifest = json.loads(MANIFEST.read_text())
    files: dict[str, str] = manifest["files"]
    if not args.force and up_to_date(manifest, files):
        print(f"[vendor-board] {manifest['package']} {manifest['version']} already vendored")
        return 0

    url = str(manifest["tarball"])
    registry = args.registry or os.environ.get("SEVA_NPM_REGISTRY")
    if registry:
        url = url.replace(NPM_REGISTRY, registry.rstrip("/"), 1)
    try:
        data = args.tarball.read_bytes() if args.tarball else fetch(url)
    except OSError as exc:  # URLError and timeouts are OSErrors
        source = args.tarball or url
        print(f"[vendor-board] error: could not get {source}: {exc}", file=sys.stderr)
        return 1
    got = integrity_of(data)
    if got != manifest["integrity"]:
        print(
            f"[vendor-board] error: {url} has integrity {got}, pinned {manifest['integrity']}; "
            "refusing it",
            file=sys.stderr,
        )
        return 1

    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member_name, target_name in files.items():
            member = archive.extractfile(member_name)
            if member is None:
                print(f"[vendor-board] error: {member_name} not in the tarball", file=sys.stderr)
                return 1
            # Written next to the target and renamed: a server never reads half a file.
            with tempfile.NamedTemporaryFile(dir=VENDOR_DIR, delete=False) as tmp:
                tmp.write(member.read())
            os.replace(tmp.name, VENDOR_DIR / target_name)
            (VENDOR_DIR / target_name).chmod(0o644)
    STAMP.write_text(str(manifest["integrity"]) + "\n")
    print(
        f"[vendor-board] vendored {manifest['package']} {manifest['version']} "
        f"({', '.join(files.values())}) into {VENDOR_DIR.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
