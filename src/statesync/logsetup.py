"""Logging for the CLI: ``-v`` and ``-vv`` open statesync's own loggers only.

The cloud SDKs log request and response bodies at DEBUG (botocore logs the
KMS ``Decrypt`` answer, ``Plaintext`` included), so no verbosity ever lets a
record below WARNING through from a logger outside ``statesync``: the SDK
loggers are held at WARNING and the handler drops anything else that slips
through (a logger we did not know of, or one an SDK re-levels itself).
"""

from __future__ import annotations

import logging

#: Loggers of the SDKs we use (and their HTTP stacks), held at WARNING.
SDK_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "azure",
    "google",
    "google_auth_httplib2",
    "grpc",
    "httpx",
    "httpcore",
    "msal",
    "hpack",
)
#: Loggers that warn of a fault the SDK then raises or retries ("Incomplete
#: download."): the error we print, or our retry note at -v, says it once.
SDK_RETRY_NOTES = ("azure.core.pipeline.transport",)
OWN = "statesync"


class OwnRecordsOnly(logging.Filter):
    """Passes statesync's records at any level, other loggers' only from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN or record.name.startswith(OWN + ".")
        return own or record.levelno >= logging.WARNING


def configure(verbose: int) -> None:
    """Log to stderr at WARNING, INFO (``verbose`` 1) or DEBUG (2+), statesync's records only."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="statesync: %(levelname)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OwnRecordsOnly) for f in handler.filters):
            handler.addFilter(OwnRecordsOnly())
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in SDK_RETRY_NOTES:
        logging.getLogger(name).setLevel(logging.ERROR)
