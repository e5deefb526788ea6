"""Google Cloud Storage: the dataset bucket and the data lake.

When ``STORAGE_EMULATOR_HOST`` is set, the google-cloud-storage client talks
to that emulator; it then needs no credentials, so none are looked up.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests
from google.api_core import exceptions as google_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


class StorageError(RuntimeError):
    """A bucket or object operation failed."""


class StorageUnavailableError(StorageError):
    """GCS did not answer, or answered with a server error: worth another try later."""


# What an unreachable or failing GCS (or emulator) raises. A missing bucket or a
# refused permission is not among them: retrying would only hide the mistake.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    StorageUnavailableError, google_errors.ServerError, google_errors.TooManyRequests,
    google_errors.RetryError, requests.exceptions.RequestException,
)  # fmt: skip


def storage_client(project: str) -> storage.Client:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client(project=project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return storage.Client(project=project)


def ensure_bucket(client: storage.Client, name: str) -> storage.Bucket:
    """The bucket ``name``, created if it does not exist."""
    bucket = client.bucket(name)
    try:
        if not bucket.exists():
            bucket = client.create_bucket(name)
    except google_errors.GoogleAPIError as error:
        raise StorageError(f"cannot reach or create bucket {name}: {error}") from error
    return bucket


def upload_file(bucket: storage.Bucket, local_path: Path, object_name: str) -> str:
    """Upload a local file; return its gs:// address."""
    try:
        bucket.blob(object_name).upload_from_filename(str(local_path))
    except google_errors.GoogleAPIError as error:
        raise StorageError(f"cannot upload {local_path} to {bucket.name}: {error}") from error
    return f"gs://{bucket.name}/{object_name}"


# Seconds to connect, and to wait for an answer, before a try counts as failed.
WRITE_TIMEOUT = (10.0, 60.0)


def write_object(bucket: storage.Bucket, name: str, data: bytes, content_type: str) -> str:
    """Create or replace one object in one try; return its gs:// address.

    The caller retries (``StorageUnavailableError``), with a backoff that keeps
    its consumer in the group, instead of the client's own two-minute retry.
    """
    try:
        bucket.blob(name).upload_from_string(
            data, content_type=content_type, retry=None, timeout=WRITE_TIMEOUT
        )
    except (google_errors.GoogleAPIError, requests.exceptions.RequestException) as error:
        failure = StorageUnavailableError if isinstance(error, TRANSIENT_ERRORS) else StorageError
        raise failure(f"cannot write gs://{bucket.name}/{name}: {error}") from error
    return f"gs://{bucket.name}/{name}"
