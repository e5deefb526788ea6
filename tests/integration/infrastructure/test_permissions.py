"""What each service asks of Google Cloud, held against what its service account may do.

Three sources meet here:
- the services' declaration, `fraudstream.topology.STORAGE_ACCESS`;
- the requests the services really make, recorded while they run against the GCS
  emulator, each mapped to the IAM permission Cloud Storage checks for it;
- the roles infrastructure/iam.tf grants, mapped to their permissions by the
  table below, taken from Google's IAM roles reference (read 2026-11-23).
A service that does something its account may not do fails here, and so does a
grant of write permissions that no service uses.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from fraudstream.emails.tokens import Answer, Confirmation
from fraudstream.paysim.generator import write_csv
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.storage import lake
from fraudstream.topology import STORAGE_ACCESS, storage_prefixes
from fraudstream.wiring import factory, producing
from tests.integration.pipeline import lake_records
from tests.terraform_config import locals_of, terraform_config

pytestmark = pytest.mark.cloud

# Predefined roles this deployment grants, and what each allows.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/storage.objectViewer": frozenset(
        {
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
            "storage.folders.get",
            "storage.folders.list",
            "storage.managedFolders.get",
            "storage.managedFolders.list",
            "storage.objects.get",
            "storage.objects.list",
        }
    ),
    "roles/secretmanager.secretAccessor": frozenset({"secretmanager.versions.access"}),
    "roles/logging.logWriter": frozenset({"logging.logEntries.create", "logging.logEntries.route"}),
    "roles/monitoring.metricWriter": frozenset(
        {
            "monitoring.metricDescriptors.create",
            "monitoring.metricDescriptors.get",
            "monitoring.metricDescriptors.list",
            "monitoring.monitoredResourceDescriptors.get",
            "monitoring.monitoredResourceDescriptors.list",
            "monitoring.timeSeries.create",
        }
    ),
}
# Permissions that read names or metadata and change nothing; a role may carry these unused.
READ_ONLY = re.compile(r"\.(get|list)$")

# Which service account each service runs as (the VM it is on).
ACCOUNT_OF_SERVICE = {
    "producer": "producer",
    "fraud-consumer": "fraud-consumer",
    "non-fraud-consumer": "non-fraud-consumer",
    "confirmation-service": "confirmation",
}
# What a pipeline VM's boot asks for itself (tests/integration/infrastructure/test_vm_boot.py
# runs it): the release archive. Which secrets each VM reads, against its grants: tests/infra.
BOOT_ACCESS = {"artifacts": frozenset({"storage.objects.get"})}


# ---------------------------------------------------------------------------
# The grants, as infrastructure/iam.tf writes them


@functools.cache
def _config() -> dict[str, Any]:
    return locals_of(terraform_config())


@functools.cache
def _custom_roles() -> dict[str, frozenset[str]]:
    resources = [r for r in terraform_config()["resource"] if "google_project_iam_custom_role" in r]
    return {
        name: frozenset(body["permissions"])
        for r in resources
        for name, body in r["google_project_iam_custom_role"].items()
    }


def granted(account: str, bucket: str) -> frozenset[str]:
    role = _config()["bucket_grants"].get(f"{account} {bucket}")
    if role is None:
        return frozenset()
    return ROLE_PERMISSIONS[role] if role.startswith("roles/") else _custom_roles()[role]


def _uses(account: str, bucket: str) -> frozenset[str]:
    services = [s for s, a in ACCOUNT_OF_SERVICE.items() if a == account]
    used = {p for s in services for p in STORAGE_ACCESS[s].get(bucket, frozenset())}
    return frozenset(used | BOOT_ACCESS.get(bucket, frozenset()))


@pytest.mark.parametrize("service", sorted(ACCOUNT_OF_SERVICE))
def test_each_service_may_do_what_it_declares(service: str) -> None:
    account = ACCOUNT_OF_SERVICE[service]
    for bucket, permissions in STORAGE_ACCESS[service].items():
        assert permissions <= granted(account, bucket), (service, bucket)
        assert not any(p.startswith("storage.buckets.") for p in permissions)


@pytest.mark.parametrize("grant", sorted(_config()["bucket_grants"]))
def test_no_grant_allows_a_change_nobody_makes(grant: str) -> None:
    account, bucket = grant.split()
    unused = granted(account, bucket) - _uses(account, bucket)
    assert not [p for p in unused if not READ_ONLY.search(p)], grant


def test_every_pipeline_vm_boots_with_what_it_may_read() -> None:
    for account in ("producer", "fraud-consumer", "non-fraud-consumer", "confirmation"):
        assert BOOT_ACCESS["artifacts"] <= granted(account, "artifacts")


def test_each_lake_grant_is_held_to_the_folders_its_service_declares() -> None:
    prefixes = _config()["grant_prefixes"]
    declared = storage_prefixes(Settings())  # the VMs keep the topics' default names
    assert prefixes == {
        f"{ACCOUNT_OF_SERVICE[service]} lake": list(folders)
        for service, folders in declared.items()
    }
    lake_grants = {grant for grant in _config()["bucket_grants"] if grant.endswith(" lake")}
    assert set(prefixes) == lake_grants  # no account writes the whole lake


# ---------------------------------------------------------------------------
# The requests the services make


def permissions_of(method: str, url: str) -> frozenset[str]:
    """The IAM permissions Cloud Storage checks for one JSON API request."""
    parsed = urllib.parse.urlparse(url)
    path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
    objects = re.search(r"/b/[^/]+/o(/|$)", path)
    if method == "POST" and "/upload/" in path:
        # Without a generation-0 precondition an upload may replace an object: delete too.
        precondition = query.get("ifGenerationMatch", [""])[0]
        create = {"storage.objects.create"}
        return frozenset(create if precondition == "0" else create | {"storage.objects.delete"})
    if objects and method == "GET":
        listing = objects.group(1) == ""
        return frozenset({"storage.objects.list" if listing else "storage.objects.get"})
    if objects and method in ("PATCH", "PUT"):
        return frozenset({"storage.objects.update"})
    if objects and method == "DELETE":
        return frozenset({"storage.objects.delete"})
    if method == "GET" and re.search(r"/b/[^/]+$", path):
        return frozenset({"storage.buckets.get"})
    return frozenset({f"unknown: {method} {path}"})


def _bucket_of(url: str) -> str:
    found = re.search(r"/b/([^/?]+)", urllib.parse.urlparse(url).path)
    assert found, url
    return urllib.parse.unquote(found.group(1))


@contextmanager
def recorded() -> Iterator[list[tuple[str, str]]]:
    """Every (method, url) any HTTP session of this process sends while inside; an
    upload's object name, which travels in its body, is added to its url as ``name``."""
    requests_made: list[tuple[str, str]] = []
    original: Callable[..., Any] = requests.Session.request

    def record(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("data") or b""
        body = body.encode() if isinstance(body, str) else body
        named = re.search(rb'"name": ?"([^"]+)"', body[:4096]) if isinstance(body, bytes) else None
        shown = f"{url}&name={named.group(1).decode()}" if "/upload/" in url and named else url
        requests_made.append((method.upper(), shown))
        return original(self, method, url, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "request", record)
        yield requests_made


def _asked(settings: Settings, made: list[tuple[str, str]]) -> dict[str, set[str]]:
    kinds = {settings.dataset_bucket: "dataset", settings.lake_bucket: "lake"}
    asked: dict[str, set[str]] = {}
    for method, url in made:
        if "/storage/v1/" in url:
            asked.setdefault(kinds[_bucket_of(url)], set()).update(permissions_of(method, url))
    return asked


def _outside(made: list[tuple[str, str]], bucket: str, prefixes: tuple[str, ...]) -> list[str]:
    """The lake requests of ``made`` that name no object under ``prefixes`` and list no
    folder under them: what a grant held to those folders refuses."""
    refused = []
    for method, url in made:
        if "/storage/v1/" not in url or _bucket_of(url) != bucket:
            continue
        parsed = urllib.parse.urlparse(url)
        query = urllib.parse.parse_qs(parsed.query)
        named = re.search(r"/o/([^/?]+)$", parsed.path)
        name = urllib.parse.unquote(named.group(1)) if named else query.get("name", [""])[0]
        listed = query.get("prefix", [""])[0] if parsed.path.endswith("/o") else ""
        if not (name or listed).startswith(prefixes):
            refused.append(f"{method} {url}")
    return refused


def test_the_services_ask_only_what_they_declare(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=1500, seed=1)
    client = lake.storage_client(settings.gcp_project)
    client.bucket(settings.dataset_bucket).blob("log.csv").upload_from_filename(source)

    asked: dict[str, dict[str, set[str]]] = {}
    outside: dict[str, list[str]] = {}
    folders = storage_prefixes(settings)
    with recorded() as made:
        options = RunOptions(source=f"gs://{settings.dataset_bucket}/log.csv")
        assert producing.producer_run(settings, options, StopFlag()).run(ProgressLog()).complete
    asked["producer"] = _asked(settings, made)
    for kind in ("fraud", "non-fraud"):
        with recorded() as made:
            factory.batch_consumer(settings, kind, StopFlag()).run(idle_exit=2)
        asked[f"{kind}-consumer"] = _asked(settings, made)
        outside[kind] = _outside(made, settings.lake_bucket, folders[f"{kind}-consumer"])
    case = lake_records(settings, "fraud_confirmation")[0]
    with recorded() as made:
        book = factory.answer_book(settings)
        confirmation = Confirmation(case["transaction_id"], Answer.FRAUD, 4_000_000_000)
        book.record(confirmation)
        book.record(Confirmation(case["transaction_id"], Answer.NOT_FRAUD, 4_000_000_000))
        book.publish_pending()
    asked["confirmation-service"] = _asked(settings, made)
    outside["confirmation"] = _outside(made, settings.lake_bucket, folders["confirmation-service"])
    assert not any(outside.values()), f"a service asked outside its folders: {outside}"

    for service, by_bucket in asked.items():
        assert by_bucket, f"{service} made no storage request: the recording missed it"
        for bucket, permissions in by_bucket.items():
            assert permissions <= STORAGE_ACCESS[service].get(bucket, frozenset()), (
                service,
                bucket,
            )
    # The requests that need the most were seen: creating, overwriting, reading, listing.
    assert asked["fraud-consumer"]["lake"] >= {"storage.objects.create", "storage.objects.list"}
    assert asked["confirmation-service"]["lake"] >= {"storage.objects.get"}
