"""``statesync serve``: an ASGI application over one store (docs/terraform-backend.md).

The Terraform/OpenTofu ``http`` state backend (:mod:`.tf`), ``/healthz`` and
``/metrics`` (:mod:`.metrics`), and the web view when :mod:`.web` is present.
Starlette, uvicorn and prometheus_client are imported only here (the
``server`` extra), never by ``import statesync.api`` or ``statesync --help``.
"""
