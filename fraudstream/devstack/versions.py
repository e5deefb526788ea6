"""Every version the local stack downloads, pinned in one place."""

KAFKA = "4.1.1"
SCALA = "2.13"
LOG4J = "2.24.3"
SLF4J = "2.0.17"
# 3.0.x is the newest Apicurio line that runs on Java 17; 3.1 and later need Java 21.
APICURIO_REGISTRY = "3.0.9"
FAKE_GCS_SERVER = "v1.56.1"
# MailHog cannot be built from the Go module proxy (its github.com/ian-kent
# dependencies are not served there) and Mailpit is not on it, so the mail
# catcher is MailDev from the npm registry: SMTP plus a JSON HTTP API.
MAILDEV = "2.2.1"
# The accessibility rules (colour contrast among them) the browser tests check pages with.
AXE_CORE = "4.14.1"

JAVA_MIN = 17
GO_MIN = (1, 22)
