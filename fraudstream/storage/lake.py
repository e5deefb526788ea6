"""Google Cloud Storage: the dataset bucket and the data lake.

When ``STORAGE_EMULATOR_HOST`` is set, the google-cloud-storage client talks
to that emulator; it then needs no credentials, so none are looked up.

The services use object operations only (create, read, list, patch): they need
no bucket-level permission. Creating buckets is for provisioning.
Everything below raises ``StorageUnavailableError`` for an outage and
``StorageError`` for what a retry will not mend (a missing bucket, a refused
permission).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
from google.api_core import exceptions as google_errors
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from fraudstream.errors import MissingResourceError, PermanentError, TransientError


class StorageError(PermanentError):
    """A bucket or object operation failed for a reason a retry will not mend."""


class StorageUnavailableError(TransientError):
    """GCS did not answer, or answered with a server error: worth another try later."""


# Seconds to connect, and to wait for an answer, before a try counts as failed.
WRITE_TIMEOUT = (10.0, 60.0)


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    metadata: dict[str, str]
    generation: int  # changes with every write of the object


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    metadata: dict[str, str]


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn the client's exceptions inside the block into the project's, naming ``what``."""
    try:
        yield
    except (
        google_errors.ServerError,
        google_errors.TooManyRequests,
        google_errors.RetryError,
        requests.exceptions.RequestException,
    ) as error:
        raise StorageUnavailableError(f"{what}: {_reason(error)}") from error
    except google_errors.Forbidden as error:
        raise StorageError(
            f"{what}: permission denied ({error.message}); check the service account's roles"
        ) from error
    except google_errors.Unauthorized as error:
        raise StorageError(f"{what}: the credentials were refused ({error.message})") from error
    except google_errors.GoogleAPIError as error:
        raise StorageError(f"{what}: {error}") from error


def _reason(error: Exception) -> str:
    """Why a request failed, in a few words: the socket's error for a connection that
    failed (not the HTTP client's whole chain), and where the emulator was looked for."""
    cause = error.cause if isinstance(error, google_errors.RetryError) else error
    text = str(cause or error)
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    reason = found.group(0) if found else text[:200]
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator and isinstance(cause, requests.exceptions.ConnectionError):
        reason += f" at STORAGE_EMULATOR_HOST={emulator}: is the emulator running (make stack-up)?"
    return reason


# google-cloud-storage 3.17 and later read each bucket's metadata in a background
# thread, for its trace attributes: a bucket GET, which needs storage.buckets.get.
# The services are granted object permissions only, so it would be refused on
# every start; it is turned off unless the variable says otherwise.
BUCKET_METADATA_SWITCH = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"


def storage_client(project: str) -> storage.Client:
    os.environ.setdefault(BUCKET_METADATA_SWITCH, "true")
    try:
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            return storage.Client(project=project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        return storage.Client(project=project)
    except DefaultCredentialsError as error:
        raise StorageError(
            "no Google credentials found: run `gcloud auth application-default login`, "
            "or set STORAGE_EMULATOR_HOST for a local emulator"
        ) from error


def lake_bucket(project: str, name: str) -> storage.Bucket:
    """A handle on bucket ``name`` (no request is made)."""
    return storage_client(project).bucket(name)


def ensure_bucket(client: storage.Client, name: str) -> storage.Bucket:
    """The bucket ``name``, created if it does not exist (provisioning only)."""
    bucket = client.bucket(name)
    with translated(f"cannot reach or create bucket {name}"):
        if not bucket.exists():
            bucket = client.create_bucket(name)
    return bucket


def require_bucket(bucket: storage.Bucket, prefix: str = "", patience: float | None = None) -> None:
    """Return if the bucket exists; ``MissingResourceError`` if not.

    Asks by listing at most one object (under ``prefix``, for a service whose grant
    holds only there), which object roles allow, rather than by reading the bucket,
    which needs a bucket-level permission. With ``patience``, the client's retries
    give up after that many seconds (a command a person waits for), not two minutes.
    """
    retry = DEFAULT_RETRY if patience is None else DEFAULT_RETRY.with_timeout(patience)
    try:
        with translated(f"cannot list gs://{bucket.name}/{prefix}"):
            listing = bucket.client.list_blobs(
                bucket, prefix=prefix or None, max_results=1, retry=retry
            )
            list(listing)
    except StorageError as error:
        if isinstance(error.__cause__, google_errors.NotFound):
            raise MissingResourceError(f"bucket gs://{bucket.name}") from error
        raise


def upload_file(bucket: storage.Bucket, local_path: Path, object_name: str) -> str:
    """Upload a local file; return its gs:// address."""
    with translated(f"cannot upload {local_path} to gs://{bucket.name}"):
        bucket.blob(object_name).upload_from_filename(str(local_path))
    return f"gs://{bucket.name}/{object_name}"


def write_object(bucket: storage.Bucket, name: str, data: bytes, content_type: str) -> str:
    """Create or replace one object in one try; return its gs:// address.

    The caller retries (``StorageUnavailableError``), with a backoff that keeps
    its consumer in the group, instead of the client's own two-minute retry.
    """
    with translated(f"cannot write gs://{bucket.name}/{name}"):
        bucket.blob(name).upload_from_string(
            data, content_type=content_type, retry=None, timeout=WRITE_TIMEOUT
        )
    return f"gs://{bucket.name}/{name}"


def create_if_absent(
    bucket: storage.Bucket, name: str, data: bytes, content_type: str
) -> int | None:
    """Create the object unless it exists (a generation precondition, so of two
    simultaneous calls exactly one creates it): its generation if this call created it,
    None if it was there."""
    return replace_if_generation(bucket, name, data, content_type, {}, generation=0)


def replace_if_generation(
    bucket: storage.Bucket,
    name: str,
    data: bytes,
    content_type: str,
    metadata: dict[str, str],
    *,
    generation: int,
) -> int | None:
    """Write the object, with ``metadata``, only if its generation is still ``generation``
    (0: only if there is none): the new generation, or None if someone wrote it since."""
    blob = bucket.blob(name)
    blob.metadata = metadata or None
    try:
        with translated(f"cannot write gs://{bucket.name}/{name}"):
            blob.upload_from_string(data, content_type=content_type, if_generation_match=generation)
    except StorageError as error:
        if isinstance(error.__cause__, google_errors.PreconditionFailed):
            return None
        raise
    return int(blob.generation or 0)


def read_object(bucket: storage.Bucket, name: str) -> StoredObject | None:
    """The object's bytes and custom metadata, or None if there is no such object."""
    with translated(f"cannot read gs://{bucket.name}/{name}"):
        blob = bucket.get_blob(name)
        if blob is None:
            return None
        # Taken before the download, which may bring a newer generation along with it.
        metadata, generation = dict(blob.metadata or {}), int(blob.generation or 0)
        return StoredObject(blob.download_as_bytes(), metadata, generation)


def list_objects(bucket: storage.Bucket, prefix: str) -> list[ObjectInfo]:
    """The objects under ``prefix``, with their custom metadata."""
    with translated(f"cannot list gs://{bucket.name}/{prefix}"):
        return [
            ObjectInfo(blob.name, dict(blob.metadata or {}))
            for blob in bucket.client.list_blobs(bucket, prefix=prefix)
        ]


def list_names(bucket: storage.Bucket, prefix: str, start_offset: str | None = None) -> list[str]:
    """Names of the objects under ``prefix`` (from ``start_offset`` on, in name order)."""
    with translated(f"cannot list gs://{bucket.name}/{prefix}"):
        blobs = bucket.client.list_blobs(bucket, prefix=prefix, start_offset=start_offset)
        return [blob.name for blob in blobs]


def folder_size(bucket: storage.Bucket, prefix: str) -> tuple[int, int]:
    """How many objects, and how many bytes, lie under ``prefix``."""
    with translated(f"cannot list gs://{bucket.name}/{prefix}"):
        sizes = [blob.size or 0 for blob in bucket.client.list_blobs(bucket, prefix=prefix)]
    return len(sizes), sum(sizes)


@contextmanager
def open_object(project: str, uri: str, chunk_size: int) -> Iterator[tuple[int, BinaryIO]]:
    """The size of ``gs://bucket/object`` and a seekable stream of it, read by ranges."""
    bucket_name, _, object_name = uri.removeprefix("gs://").partition("/")
    with translated(f"cannot read {uri}"):
        blob = storage_client(project).bucket(bucket_name).get_blob(object_name)
        if blob is None:
            raise StorageError(f"no such object: {uri}")
        with blob.open("rb", chunk_size=chunk_size) as stream:
            yield int(blob.size), stream
