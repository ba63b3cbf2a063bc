"""Configuration from environment variables prefixed ``INITSERVE_`` (pydantic-settings)."""

from __future__ import annotations

import os

from pydantic import Field, SecretStr
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
    max_model_tensors: int = Field(4096, ge=1, description="Most tensors in one model (POST /v1/models/*).")
    max_model_elements: int = Field(1 << 29, ge=1, description="Most elements in one model, all tensors together.")
    max_model_bytes: int = Field(
        1 << 31, ge=1, description="Most bytes of tensor data in one model (.npz answers stay under 4 GiB)."
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Largest request body accepted; the default fits any model request within the entry limits "
        "(1024 entries of 256-character names: about 420 KB of JSON).",
    )
    max_diagnostics_cost: int = Field(
        1 << 33,
        ge=1,
        description="Largest propagation diagnostics, in depth x width^2 x batch x compared schemes "
        "(batch x the sum of n_in x n_out over the layers, for unequal widths).",
    )
    max_diagnostics_bytes: int = Field(
        1 << 30,
        ge=1,
        description="Largest peak memory of a propagation diagnostics request, as allocated: the weights, the "
        "float64 pre-activations and their temporaries (the largest compared scheme's; see docs/operations.md).",
    )
    generation_budget_bytes: int = Field(
        0,
        ge=0,
        description="Bytes of tensors being generated at once across all requests of a process (a buffered answer "
        "counts its whole tensor, a streamed one its look-ahead); 0 means 4 x INITSERVE_MAX_ELEMENTS (1 GiB with "
        "the default limit). A request that does not fit waits, then gets 503.",
    )
    max_request_flops: int = Field(
        1 << 40,
        ge=1,
        description="Most CPU work of one request, in flops (an orthogonal n x n tensor: 8/3 n^3 for its QR; "
        "diagnostics: 6 x batch x weights per scheme; 100 per element drawn): over it, 413. The default, about "
        "1.1e12, is some 50 s of one core: five orthogonal 4096 x 4096 tensors (six are refused).",
    )
    work_budget_flops: int = Field(
        0,
        ge=0,
        description="Flops of CPU work admitted at once across all requests of a process; 0 means "
        "INITSERVE_MAX_REQUEST_FLOPS (never less). A request that does not fit waits, then gets 503.",
    )
    heavy_threads: int = Field(
        1,
        ge=1,
        description="Threads for heavy work (tensors computed whole at a large cost, such as an orthogonal QR, "
        "and diagnostics), apart from the generation threads so that it never delays streamed generation.",
    )
    send_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds an answer waits for a client that reads nothing (the socket's buffers full); then "
        "the connection is closed and the request's share of the budgets given back.",
    )
    admission_timeout: float = Field(
        5.0,
        ge=0,
        description="Seconds a request waits for room in the generation budget before a 503 with Retry-After.",
    )
    request_read_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Seconds a new connection has to send a request's first byte, and a request to arrive whole "
        "(head and body) from its first byte; then the connection is closed, so idle or trickling clients cannot "
        "hold connections. Answers are never cut. `initserve serve` only.",
    )
    max_header_bytes: int = Field(
        64 << 10,
        ge=1024,
        description="Largest request head: the request line and the header fields (name + value + 4 bytes each); "
        "over it the answer is 431 (414 for the URL alone) and the connection is closed. `initserve serve` only.",
    )
    max_headers: int = Field(
        100, ge=1, description="Most header fields in a request; over it: 431. `initserve serve` only."
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Most open connections per process; one more is answered 503 with Retry-After and closed. "
        "Each takes a file descriptor: the open-files limit (`ulimit -n`) must be above it. `initserve serve` only.",
    )
    keep_alive_seconds: float = Field(
        5.0,
        gt=0,
        description="Seconds an idle keep-alive connection stays open after an answer (uvicorn's timeout). Behind "
        "a load balancer that reuses connections, set it above the balancer's idle timeout (AWS ALB: 60 s).",
    )
    graceful_shutdown_seconds: float = Field(
        20.0,
        ge=0,
        description="On SIGTERM, seconds in-flight answers get to finish (new connections are refused meanwhile).",
    )
    api_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated API keys; when set, every /v1/* operation needs `Authorization: Bearer <key>` "
        "or `X-API-Key: <key>` (401 otherwise). Empty: no authentication.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser (CORS), or `*`. Empty: CORS off.",
    )
    log_level: str = Field("info", description="Log level: critical, error, warning, info, debug.")
    access_log: bool = Field(True, description="One JSON line per request on stderr.")
    warm_streams: bool = Field(
        True,
        description="At start-up, load (or compile, the first time) the framework streams' kernels on a "
        "background thread, so that no request waits for them.",
    )

    def generation_budget(self) -> int:
        return self.generation_budget_bytes or 4 * self.max_elements

    def work_budget(self) -> int:
        """Flops admitted at once: ``work_budget_flops``, at least ``max_request_flops``."""
        return max(self.work_budget_flops, self.max_request_flops)

    def api_key_list(self) -> list[str]:
        """The configured API keys (empty: authentication off)."""
        return _split(self.api_keys.get_secret_value())

    def cors_origin_list(self) -> list[str]:
        """The origins allowed by CORS (empty: CORS off)."""
        return _split(self.cors_origins)

    def generation_threads(self) -> int:
        return self.threads or os.cpu_count() or 1


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
