"""Headless Chromium for the browser tests: Debian's package (never a downloaded build) and the flags this machine
needs (no sandbox as root, no background networking on a closed network)."""

from __future__ import annotations

import os
import shutil

# CHROMIUM_PATH overrides; otherwise Debian's package, or Google Chrome on CI images that ship it instead.
CHROMIUM = (
    os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
