"""Read what reached the mail catcher, through its HTTP API."""

from __future__ import annotations

import json
import time
import urllib.request


def delivered(mail_api_url: str, subject: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{mail_api_url}/email", timeout=5) as response:
            for message in json.load(response):
                if message["subject"] == subject:
                    return dict(message)
        time.sleep(0.2)
    raise AssertionError(f"no message with subject {subject!r} reached the mail catcher")
