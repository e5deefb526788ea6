"""Who logs in to Kafka, declared once: one principal a service, the cloud's schema registry's
and Kafka UI's.

``fraudstream.topology`` gives each its grants; the local stack draws a password for each
(``fraudstream.devstack.logins``); ``scripts/deployment_secrets.py`` draws the cloud's,
with the administrator's beside them. This module imports nothing, so that script runs on
a bare ``python3`` without the project's dependencies.
"""

SERVICE_PRINCIPALS = (
    "producer",
    "fraud-consumer",
    "non-fraud-consumer",
    "cases-consumer",
    "confirmation-service",
    "schema-registry",
    "lag-watcher",
    "kafka-ui",
)
