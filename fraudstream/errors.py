"""The project's own errors: what every adapter raises instead of its library's exceptions.

Two kinds, because each loop has one decision to make about a failure:

- ``TransientError``: an outage (no answer, a 5xx, a timeout). Worth another
  try after a wait; a consumer holds its batch and retries.
- ``PermanentError``: retrying cannot help (a missing topic, a refused
  permission, a bad setting, a file that is not PaySim). The command stops and
  says, in one line, what to do.

Every message is written for the person who will read it: what failed and,
where there is one, the fix.
"""

from __future__ import annotations


class FraudstreamError(Exception):
    """Anything the pipeline expects to go wrong."""


class TransientError(FraudstreamError):
    """A service did not answer or failed for now: try again later."""


class PermanentError(FraudstreamError):
    """A setting, a permission or a missing resource: retrying will not help."""


class MissingResourceError(PermanentError):
    """A topic, a schema or a bucket the service needs does not exist yet."""

    def __init__(self, what: str, fix: str = "fraudstream setup") -> None:
        super().__init__(
            f"{what} does not exist: run `{fix}` (locally) or apply the Terraform "
            "(in the cloud) first"
        )
