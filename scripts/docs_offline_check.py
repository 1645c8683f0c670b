#!/usr/bin/env python3
"""Check that Swagger UI and ReDoc load nothing from outside the app.

Starts the app (throwaway SQLite database), opens /api/v1/docs/ and /api/v1/redoc/ in
headless Chromium through tools/docs-offline-check.mjs (playwright-core), records every
request, and fails if one leaves the host, if a request is blocked, or if a page does not
render. Screenshots of both pages go to OUT_DIR (default: build/docs-offline/).

Needs Debian's chromium (`apt-get install -y chromium`, or CHROMIUM=/path/to/chrome) and
the Node tools (`npm ci --prefix tools`).

    .venv/bin/python scripts/docs_offline_check.py [OUT_DIR]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.liveserver import ROOT, live_server  # noqa: E402

CHECK = ROOT / "tools" / "docs-offline-check.mjs"


def missing_tools() -> list[str]:
    missing = []
    if not shutil.which("node"):
        missing.append("node (Node.js)")
    if not (ROOT / "tools" / "node_modules" / "playwright-core").exists():
        missing.append("playwright-core (npm ci --prefix tools)")
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        missing.append("chromium (apt-get install -y chromium)")
    return missing


def main(out_dir: Path) -> int:
    if missing := missing_tools():
        print("Missing: " + ", ".join(missing), file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory() as workdir,
        live_server(Path(workdir), load_plan=False) as server,
    ):
        result = subprocess.run(
            ["node", str(CHECK), server.url, str(out_dir)], cwd=ROOT, timeout=300
        )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "docs-offline"))
