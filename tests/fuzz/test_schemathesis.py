"""Schema fuzzing: schemathesis over every operation of openapi/openapi.json, every check on.

Twice: in-process (ASGI, the default deployment: no API keys) and against a live uvicorn started
here on a free 127.0.0.1 port, with API keys on (the CLI, as a user would run it). Both read
``schemathesis.toml`` at the repository root (checks, allowances, seed, example counts) and fuzz
services whose limits are small (``SMALL_LIMITS``), so that no case makes a large tensor or a long
diagnostics pass. Failures name the check (ST101 server error, ST201 schema-violating request
accepted, ...) and give a curl command that reproduces them.

The in-process run proves the logic, ~10,000 cases: explicit examples and generated cases on every
operation, the coverage phase whole once per request schema and its schema-valid cases on the other
tensor operations (schemathesis.toml says why). The live run proves the transport and the API keys,
~270 cases: every operation over a real socket with its examples and a few generated cases, and the
coverage phase on the operations without a body (unexpected methods, missing and malformed tokens);
the coverage phase's thousands of body cases would only run the same logic again over HTTP.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from api.helpers import REPO, running_server, settings
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis.reporting import ignore_hypothesis_output
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source

from service.main import create_app

from . import st_hooks  # noqa: F401  (fixes schemathesis' discriminator pins; also loaded by the toml)

SPEC = REPO / "openapi" / "openapi.json"
CONFIG_FILE = REPO / "schemathesis.toml"
#: Limits of the fuzzed services: tensors of at most 4096 elements, diagnostics of at most 2^16
#: multiply-adds per pass and 1 MiB.
SMALL_LIMITS: dict[str, Any] = {
    "max_elements": 4096,
    "max_json_elements": 4096,
    "max_diagnostics_cost": 1 << 16,
    "max_diagnostics_bytes": 1 << 20,
    "max_model_elements": 1 << 14,
    "max_model_tensors": 64,
}
OPERATIONS = {
    f"{method.upper()} {path}" for path, item in json.loads(SPEC.read_text())["paths"].items() for method in item
}
FUZZ_KEY = "fuzz-key-0123456789"
#: Generated cases per operation against the live server (the in-process run's budget is the toml's).
LIVE_MAX_EXAMPLES = 5
#: Appended to the toml for the live run: operations with a body skip the coverage phase there.
LIVE_OVERRIDES = """
[[operations]]
include-method = "POST"
phases.coverage.enabled = false
"""


class FreshApp:
    """The service with ``SMALL_LIMITS``, built anew at each lifespan start: schemathesis' pytest
    plugin ends the lifespan after each test, and a service's lifespan runs once (it closes the pool)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" or self.app is None:
            self.app = create_app(settings(**SMALL_LIMITS))
        await self.app(scope, receive, send)


raw_config = tomllib.loads(CONFIG_FILE.read_text())
raw_config["hooks"] = str(REPO / raw_config["hooks"])  # the toml's path is relative to the repository root
config = schemathesis.Config.from_dict(raw_config, base_dir=str(REPO))
schema = schemathesis.openapi.from_path(SPEC, config=config)
schema.app = FreshApp()
cases: Counter[str] = Counter()
positive_tags: Counter[str] = Counter()  # init.scheme of the schema-valid tensor requests


def fuzz_case(case: schemathesis.Case) -> None:
    """One case: sent to the app in-process, every check run on its response."""
    cases[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    body = case.body if isinstance(case.body, dict) else {}
    if case.meta is not None and case.meta.generation.mode.is_positive and isinstance(body.get("init"), dict):
        positive_tags[body["init"].get("scheme")] += 1
    case.call_and_validate()


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_in_process(operation: str) -> None:
    """Every case of one operation (its examples, generated cases and coverage phase, as the toml sets them).

    Its cases are built here, in the worker that runs it: ``@schema.parametrize()`` built every operation's at
    collection, in each xdist worker (~12 CPU-s each, the coverage phase's thousands of cases), and
    ``from_fixture`` fails under pytest 9.2 (it sets ``Function._nodeid``). The test is schemathesis' own
    (``build_operation_test``, what its pytest plugin and ``from_fixture`` run, with the same seed, derived from
    the operation's label): the same cases, checks and failure reports."""
    method, path = operation.split(" ", 1)
    load_all_checks()
    test = build_operation_test(
        config=schema.config,
        operation=schema[path][method],
        test_func=fuzz_case,
        given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(schema)),
    )
    try:
        with ignore_hypothesis_output():
            test()
    except FailureGroup as failures:  # the plugin's report: each failed check with its curl command
        raise as_reported_failure(failures) from None


def test_in_process_fuzzed_every_operation() -> None:
    """Runs after the parametrized tests (file order): every operation got cases."""
    if not cases:
        pytest.skip("the in-process fuzzing did not run (deselected)")
    print(f"in-process: {sum(cases.values())} cases: {dict(sorted(cases.items()))}")
    assert set(cases) == OPERATIONS
    # Regression (st_hooks.py): schemathesis pinned GlorotInit to "xavier" and HeInit to "kaiming" only, so valid
    # data never named "glorot" or "he", and invalid data "mutated" the tag into those valid names (false ST201).
    print(f"schemes in schema-valid tensor requests: {dict(positive_tags)}")
    assert {"glorot", "xavier", "he", "kaiming"} <= set(positive_tags)


def test_live_server(tmp_path: Path) -> None:
    """The CLI against a real server with API keys on (the key sent as a bearer token): exit 0 means
    every check passed on every case."""
    live_config = tmp_path / "schemathesis.toml"
    hooks = f'hooks = "{raw_config["hooks"]}"'  # absolute: the copy is not at the repository root
    live_config.write_text(re.sub(r"(?m)^hooks = .*$", hooks, CONFIG_FILE.read_text()) + LIVE_OVERRIDES)
    env = {f"INITSERVE_{name.upper()}": str(value) for name, value in SMALL_LIMITS.items()}
    env["INITSERVE_API_KEYS"] = f"other-key,{FUZZ_KEY}"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(live_config),
        "run",
        str(SPEC),
        "--header",
        f"Authorization: Bearer {FUZZ_KEY}",
        "--no-color",
        # The in-process run fuzzes with the toml's budget (50 per operation, 25 per model one); this one checks the
        # same operations over a real socket with API keys, with a smaller budget (issue 17: the suite in a
        # time a person waits for).
        "--max-examples",
        str(LIVE_MAX_EXAMPLES),
    ]
    with running_server(env, via_cli=True) as base:  # `initserve serve`: its connection guard too
        started = time.monotonic()
        result = subprocess.run(
            [*command, "--url", base], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
        )
        seconds = time.monotonic() - started
        metrics = httpx.get(f"{base}/metrics").text
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    generated = re.search(r"(\d+) generated", output)
    print(f"live server: {generated.group(1) if generated else '?'} cases in {seconds:.1f} s")
    assert f"{len(OPERATIONS)} selected / {len(OPERATIONS)} total" in output, output[-3000:]
    # The key was taken: every tensor operation answered tensors, not only 401s.
    answered = re.findall(
        r'initserve_requests_total\{method="POST",route="(/v1/tensors[a-z/]*)",status="200"\}', metrics
    )
    assert set(answered) == {
        "/v1/tensors",
        "/v1/tensors/npy",
        "/v1/tensors/stats",
        "/v1/tensors/safetensors",
    }, metrics
