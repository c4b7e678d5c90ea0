"""Refresh docs/screenshots/*.png: `.venv/bin/python -m scripts.screenshots`.

Runs tests/pages/test_browser_screenshots.py and tests/pages/test_browser_services_screenshots.py
with YIZHAN_SCREENSHOTS=1 on the same embedded
PostgreSQL + Valkey and Debian chromium as the test suite, so the pictures show the pages
exactly as the tests drive them (every state is asserted before it is photographed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], check=True)
    env = {**os.environ, "YIZHAN_SCREENSHOTS": "1"}
    return subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/pages/test_browser_screenshots.py",
         "tests/pages/test_browser_services_screenshots.py"],
        cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
