"""Configuration from environment variables prefixed ``INITSERVE_`` (pydantic-settings)."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each field is read from ``INITSERVE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="INITSERVE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to bind (0.0.0.0 in the container).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, description="uvicorn worker processes.")
    threads: int = Field(0, ge=0, description="Generation threads per process; 0 means one per CPU core.")
    max_elements: int = Field(1 << 28, ge=1, description="Largest tensor (elements) for .npy and stats.")
    max_json_elements: int = Field(1 << 22, ge=1, description="Largest tensor (elements) for the JSON answer.")
    buffered_npy_bytes: int = Field(
        16 << 20,
        ge=0,
        description=".npy answers up to this size are generated before sending, with empirical statistics "
        "in X-Init-* headers; larger ones stream from the first byte.",
    )
    max_body_bytes: int = Field(64 << 10, ge=1024, description="Largest request body accepted.")
    max_diagnostics_cost: int = Field(
        1 << 33,
        ge=1,
        description="Largest propagation diagnostics, in depth x width^2 x batch x compared schemes "
        "(batch x the sum of n_in x n_out over the layers, for unequal widths).",
    )
    max_diagnostics_bytes: int = Field(
        256 << 20,
        ge=1,
        description="Largest memory for one scheme's propagation diagnostics: its weights and float64 pre-activations.",
    )
    log_level: str = Field("info", description="Log level: critical, error, warning, info, debug.")
    access_log: bool = Field(True, description="One JSON line per request on stderr.")

    def generation_threads(self) -> int:
        return self.threads or os.cpu_count() or 1
