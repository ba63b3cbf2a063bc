"""The explorer in headless Chromium against a real server (issue 19): it loads with no request leaving
127.0.0.1 and no console error; its histogram and variances are the service's own for the same request;
it redraws with the scheme's density; its propagation comparison recommends He for ReLU; its curl
command, run, answers the same statistics; the API's errors appear beside the field they name; it is
usable from the keyboard; its screenshots at 1280x800 and 390x844 are saved as artifacts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from api.helpers import server_process

from .conftest import ARTIFACTS, Watched

pytestmark = pytest.mark.slow


def choose(page: Any, shape: str, scheme: str, seed: str, **fields: str) -> None:
    """Fills the layer form: shape, scheme (its fields regenerated), seed and scheme fields by name."""
    page.get_by_test_id("shape").fill(shape)
    page.get_by_test_id("scheme").select_option(scheme)
    for name, value in fields.items():
        control = page.locator(f"[data-field='init.{name}']")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    page.get_by_test_id("seed").fill(seed)


def stats(base: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{base}/v1/tensors/stats", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


HE_256 = {
    "shape": [256, 256],
    "layout": "keras",
    "init": {"scheme": "he", "distribution": "normal"},
    "seed": 7,
    "dtype": "float32",
    "histogram": {"bins": 80},
}


def test_the_page_loads_offline_and_draws(watched: Watched) -> None:
    page = watched.open()
    paths = {url.removeprefix(watched.base).split("?")[0] for url in watched.requests}
    assert "/" in paths and "/explorer/app.js" in paths and "/v1/schemes" in paths
    assert page.get_by_test_id("histogram").get_attribute("data-bins") == "80"
    assert page.locator("[data-testid=histogram] [data-role=bars]").count() == 1
    assert page.get_by_test_id("propagation").locator("path.run").count() == 6  # 3 schemes, forward and backward
    # every scheme of the catalogue is offered, the framework-named initializers too
    catalogue = httpx.get(f"{watched.base}/v1/schemes").json()
    offered = set(page.get_by_test_id("scheme").locator("option").evaluate_all("os => os.map(o => o.value)"))
    assert {s["scheme"] for s in catalogue["schemes"]} | {i["name"] for i in catalogue["initializers"]} == offered


def test_he_normal_shows_the_services_histogram_and_variances(watched: Watched) -> None:
    page = watched.open()
    choose(page, "256, 256", "he", "7", distribution="normal")
    assert watched.run() == "done"
    expected = stats(watched.base, HE_256)["stats"]
    theoretical = page.get_by_test_id("theoretical-variance").get_attribute("data-value")
    empirical = page.get_by_test_id("empirical-variance").get_attribute("data-value")
    assert float(theoretical) == expected["theoretical"]["variance"] == 2 / 256
    assert float(empirical) == expected["empirical"]["variance"]
    histogram = page.get_by_test_id("histogram")
    assert json.loads(histogram.get_attribute("data-counts")) == expected["histogram"]["counts"]
    assert histogram.get_attribute("data-density") == "normal"
    assert histogram.locator("[data-role=density]").count() == 1
    assert histogram.locator("[data-role^=bound]").count() == 0  # a normal is unbounded
    assert page.locator("#fan-in").inner_text() == "256" and page.locator("#fan-out").inner_text() == "256"


def test_glorot_uniform_redraws_with_the_uniform_density(watched: Watched) -> None:
    page = watched.open()
    choose(page, "256, 256", "he", "7", distribution="normal")
    watched.run()
    normal_curve = page.locator("[data-testid=histogram] [data-role=density]").get_attribute("d")
    choose(page, "256, 256", "glorot", "7", distribution="uniform")
    assert watched.run() == "done"
    histogram = page.get_by_test_id("histogram")
    assert histogram.get_attribute("data-density") == "uniform"
    assert histogram.locator("[data-role=density]").get_attribute("d") != normal_curve
    assert (
        histogram.locator("[data-role=bound-low]").count() == 1
        and histogram.locator("[data-role=bound-high]").count() == 1
    )
    expected = stats(watched.base, {**HE_256, "init": {"scheme": "glorot", "distribution": "uniform"}})["stats"]
    assert float(page.get_by_test_id("theoretical-variance").get_attribute("data-value")) == 2 / 512
    assert (
        float(page.get_by_test_id("empirical-variance").get_attribute("data-value"))
        == expected["empirical"]["variance"]
    )


def test_a_relu_comparison_recommends_he_over_glorot(watched: Watched) -> None:
    page = watched.open()
    page.get_by_label("Depth", exact=True).fill("20")
    page.get_by_label("Width", exact=True).fill("128")
    page.get_by_label("Activation", exact=True).select_option("relu")
    for scheme, checked in [("he", True), ("glorot", True), ("lecun", False)]:
        page.locator(f"#compare-options input[value='{scheme}']").set_checked(checked)
    assert watched.run("run-propagation", "propagation-results") == "done"
    chart = page.get_by_test_id("propagation")
    assert chart.get_attribute("data-recommended") == "he"
    assert sorted(set(chart.locator("path.run").evaluate_all("ps => ps.map(p => p.dataset.scheme)"))) == [
        "glorot uniform",
        "he normal",
    ]
    assert page.get_by_test_id("recommendation").inner_text().startswith("Recommended: he")


def test_the_copied_curl_command_answers_the_same_statistics(watched: Watched) -> None:
    page = watched.open()
    choose(page, "128, 96", "lecun", "12", distribution="truncated_normal")
    assert watched.run() == "done"
    assert page.get_by_test_id("histogram").get_attribute("data-density") == "truncated_normal"
    command = page.get_by_test_id("copy-curl").inner_text()
    assert command.startswith("curl ")
    ran = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
    answer = json.loads(ran.stdout)
    assert (
        float(page.get_by_test_id("empirical-variance").get_attribute("data-value"))
        == answer["stats"]["empirical"]["variance"]
    )
    assert (
        float(page.get_by_test_id("theoretical-variance").get_attribute("data-value"))
        == answer["stats"]["theoretical"]["variance"]
    )
    assert (
        json.loads(page.get_by_test_id("histogram").get_attribute("data-counts"))
        == answer["stats"]["histogram"]["counts"]
    )
    body = {
        "shape": [128, 96],
        "init": {"scheme": "lecun", "distribution": "truncated_normal"},
        "seed": 12,
        "histogram": {"bins": 80},
    }
    assert answer["stats"] == stats(watched.base, body)["stats"]
    # the Python (httpx) snippet, run, prints the same statistics
    script = page.locator("#copy-python").inner_text()
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0 and ran.stdout.strip() == repr(answer["stats"]), (script, ran.stdout, ran.stderr)
    page.get_by_role("button", name="Copy curl").click()
    # a locator assertion, not wait_for_function("..."): a string predicate is polled through eval, which the
    # page's Content-Security-Policy refuses (a console error, and a failure when the first check is early)
    from playwright.sync_api import expect  # the package is checked by conftest's fixtures

    expect(page.locator("#copy-status")).not_to_have_text("")


def test_an_invalid_shape_shows_the_apis_message_beside_the_shape(watched: Watched) -> None:
    watched.allow("status of 422")  # Chromium logs the refused request itself
    page = watched.open()
    choose(page, "256, 0", "he", "7")
    assert watched.run() == "error"
    refused = httpx.post(f"{watched.base}/v1/tensors/stats", json={**HE_256, "shape": [256, 0]})
    assert refused.status_code == 422
    message = refused.json()["errors"][0]["message"]
    beside = page.locator("#shape-error")
    assert beside.is_visible() and message in beside.inner_text()
    assert page.get_by_test_id("shape").get_attribute("aria-invalid") == "true"
    assert page.get_by_test_id("shape").evaluate("e => e === document.activeElement")
    # a scheme field's error goes beside that field
    choose(page, "256, 256", "glorot", "7", gain="big")
    assert watched.run() == "error"
    gain = page.locator("[data-field='init.gain']")
    assert gain.get_attribute("aria-invalid") == "true"
    assert page.locator("#shape-error").is_hidden()
    assert gain.locator("xpath=..").locator(".error").is_visible()


def test_keyboard_only(watched: Watched) -> None:
    page = watched.open()
    page.get_by_test_id("shape").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("64, 32")
    before = page.get_attribute("#tensor-results", "data-run")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector(f"#tensor-results:not([data-run='{before}'])")
    assert page.locator("#count").inner_text() == "2,048"
    # Tab reaches the run button, Enter runs
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "run":
            break
    else:
        pytest.fail("Tab never reached the run button")
    before = page.get_attribute("#tensor-results", "data-run")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#tensor-results:not([data-run='{before}'])")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
             .map(e => e.id || e.outerHTML)"""
    )
    assert unlabelled == []


def test_a_preset_fills_the_layer(watched: Watched) -> None:
    page = watched.open()
    before = page.get_attribute("#tensor-results", "data-run")
    page.get_by_label("Framework preset", exact=True).select_option("torch.Linear")
    page.wait_for_selector(f"#tensor-results:not([data-run='{before}'])")
    assert page.get_by_test_id("shape").input_value() == "256, 784"  # the preset's example: 784 -> 256
    assert page.get_by_test_id("scheme").input_value() == "torch.kaiming_uniform_"
    assert page.get_by_label("Layout", exact=True).input_value() == "torch"
    assert page.get_by_test_id("histogram").get_attribute("data-density") == "uniform"
    assert page.locator("#fan-in").inner_text() == "784"


def test_download_npy_is_the_services_tensor(watched: Watched) -> None:
    page = watched.open()
    choose(page, "32, 16", "he", "3")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .npy").click()
    saved = np.load(download.value.path(), allow_pickle=False)
    served = httpx.post(
        f"{watched.base}/v1/tensors/npy",
        json={"shape": [32, 16], "layout": "keras", "init": {"scheme": "he"}, "seed": 3, "dtype": "float32"},
    )
    assert download.value.suggested_filename == "tensor.npy"
    assert np.array_equal(saved, np.load(io.BytesIO(served.content), allow_pickle=False))
    # the answer's Content-Location, when the service gives one, is shown as the permanent URL
    location = served.headers.get("content-location")
    if location is not None:
        link = page.locator("#permanent-url")
        assert link.is_visible() and link.get_attribute("href") == watched.base + location
        assert np.array_equal(saved, np.load(io.BytesIO(httpx.get(watched.base + location).content)))
    with page.expect_download() as file:
        page.get_by_role("button", name="Download .safetensors").click()
    assert file.value.suggested_filename == "tensor.safetensors"


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_screenshots(watched: Watched, width: int, height: int) -> None:
    page = watched.page
    page.set_viewport_size({"width": width, "height": height})
    watched.open()
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide at {width} px"
    # the charts are drawn at their laid-out width, so their text keeps its size on a phone
    box = page.get_by_test_id("histogram").bounding_box()
    view_width = float(page.get_by_test_id("histogram").get_attribute("viewBox").split()[2])
    assert abs(view_width - box["width"]) <= max(2.0, 300 - box["width"]), (view_width, box)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"explorer-{width}x{height}.png"
    page.screenshot(path=path, full_page=True)
    page.screenshot(path=ARTIFACTS / f"explorer-{width}x{height}-viewport.png")
    print(f"\nscreenshot: {path}")
    assert path.stat().st_size > 10_000


def test_a_service_with_api_keys(browser_context: Any) -> None:
    """With INITSERVE_API_KEYS the page asks for the key, then works; its curl command sends the key from
    $INITSERVE_API_KEY (never the key itself)."""
    with server_process({"INITSERVE_API_KEYS": "explorer-key"}) as (base, _):
        page = browser_context.new_page()
        watched = Watched(page, base)
        watched.allow("status of 401")  # the catalogue, asked before the key is entered
        outside: list[str] = []

        def route(route: Any) -> None:
            if urlparse(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", route)
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        try:
            page.goto(base + "/")
            from playwright.sync_api import expect

            expect(page.locator("#tensor-status")).to_contain_text("API key")
            key = page.get_by_label("Key (only if the service requires one)")
            assert key.evaluate("e => e === document.activeElement")
            key.fill("explorer-key")
            key.press("Enter")
            page.wait_for_selector("#tensor-results[data-run='1']")
            assert page.get_attribute("#tensor-results", "data-state") == "done"
            command = page.get_by_test_id("copy-curl").inner_text()
            assert "explorer-key" not in command and "$INITSERVE_API_KEY" in command
            env = {**os.environ, "INITSERVE_API_KEY": "explorer-key"}
            ran = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, env=env)
            assert ran.returncode == 0 and "stats" in json.loads(ran.stdout), ran.stdout
            assert outside == []
            assert [e for e in watched.errors if "status of 401" not in e] == []
        finally:
            page.close()
