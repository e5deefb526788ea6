"""The confirmation service on a free loopback port, in a thread, for one test."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from waitress.server import create_server

from fraudstream.settings.config import Settings
from fraudstream.wiring.factory import confirmation_app


@contextmanager
def confirmation_service(settings: Settings) -> Iterator[str]:
    """Serve the confirmation pages; yields the base URL."""
    app = confirmation_app(settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Waitress wakes its loop by writing b"x" to a pipe, from any thread that ends a
        # task, and does so even once the pipe is closed: a late one landed in whatever
        # the pipe's descriptor had become (a child's stdout, or subprocess's error pipe).
        # So the task threads end first, then the pipe closes, then the loop ends.
        server.task_dispatcher.shutdown()
        server.close()
        thread.join(10)


def fetch(url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    """GET ``url``, or POST ``form`` to it; the status and the page."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
