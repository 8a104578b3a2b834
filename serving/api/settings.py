"""The service's settings: the workspace's (:class:`features.workspace.Settings`) and how the
service runs, read once from ``SHELFWISE_*`` variables when the service module loads."""

from __future__ import annotations

from pydantic import Field

from features.workspace import Settings


class ServiceSettings(Settings):
    """What an operator tunes about the running service."""

    include_purchased: bool = Field(
        True, description="Default of /recommend's include_purchased: true for shops whose customers "
                          "re-order (a gift wholesaler), false where they rarely do (furniture).")
    workers: int = Field(2, ge=1, description="Service worker processes (one per core).")
    access_log: bool = Field(False, description="Log every request (costs throughput).")
    max_body_bytes: int = Field(1_000_000, ge=1_000, description="Largest request body the service reads.")
    body_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send its whole request body (then 408).")
    metrics_public: bool = Field(
        False, description="Serve /metrics without a key (a scraper on a private network); otherwise "
                           "it needs a key of the monitoring or admin role.")
    log_exposures: bool = Field(
        True, description="Log every list and offer shown (the exposure log that attribution and A/B tests "
                          "read); answers carry a recommendation_id either way.")
    exposure_days: float = Field(
        90.0, ge=0, description="How long exposures are kept (0: for ever); events are kept regardless.")
    reload_seconds: float = Field(
        30.0, ge=0, description="How often the service checks the registry for new champions (0: never; "
                                "POST /admin/reload checks at once).")
