"""What the browser tests share: the running demo and how chromium is started."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIKA = Path(sys.executable).parent / "sika"


@dataclass(frozen=True)
class Demo:
    url: str
    env: dict[str, str]
    passwords: dict[str, str]
    admin_key: str

    def sika(self, *args: str) -> str:
        done = subprocess.run([str(SIKA), *args], env=self.env, capture_output=True, text=True, check=True,
                              timeout=120)
        return done.stdout
