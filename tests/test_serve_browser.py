"""The explorer in a real browser: Playwright driving Debian's chromium (make test-browser).

The server runs in a thread on a free loopback port; screenshots go to the test's tmp
folder (and to docs/ with CIMP_SCREENSHOTS=docs, which `make screenshots` sets).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import tiny_train_config

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def site(tiny_dataset, tmp_path_factory):
    """The explorer of the tiny dataset and a run, served on a free loopback port."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make test-browser`", False)
    import uvicorn

    from cimp.embeddings import embed_dataset
    from cimp.serve.app import create_app
    from cimp.serve.archive import Archive
    from cimp.train import train

    root = tmp_path_factory.mktemp("browser")
    run = train(tiny_train_config(tiny_dataset, root / "run"), show_progress=False)
    embed_dataset(run, tiny_dataset, "cpu", show_progress=False)
    app = create_app(Archive(tiny_dataset, run, cache=root / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the explorer did not start on port {port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    yield page
    page.close()


def shoot(page, tmp_path: Path, name: str) -> Path:
    """A screenshot in the test's folder, copied to $CIMP_SCREENSHOTS if set."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("CIMP_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["CIMP_SCREENSHOTS"]) / f"serve-{name}.png")
    return path


def test_the_grid_loads_and_a_filter_narrows_it(site, page, tmp_path):
    page.goto(f"{site}/?limit=500")
    everything = page.locator("a.tile").count()
    assert everything > 40
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert page.evaluate("() => [...document.images].every(i => i.naturalWidth > 0)")
    assert shoot(page, tmp_path, "grid").stat().st_size > 10_000
    page.fill("input[name=where]", "dwell_time>5us")
    page.click(".filters button")
    page.wait_for_url("**where=dwell_time*")
    narrowed = page.locator("a.tile").count()
    assert 0 < narrowed < everything
    assert f"{narrowed} images pass" in page.inner_text("#count")


def test_an_image_page_shows_its_fields_and_a_neighbour_link_works(site, page, tmp_path):
    page.goto(site)
    page.locator("a.tile").first.click()
    page.wait_for_url("**/image/**")
    first = page.url
    assert "dwell_time" in page.inner_text("table.fields")
    page.wait_for_function("() => document.getElementById('full').naturalWidth > 0")
    shoot(page, tmp_path, "image")
    page.locator("h2:has-text('nearest by image') + .grid a.tile").first.click()
    page.wait_for_url("**/image/**")
    assert page.url != first and "dwell_time" in page.inner_text("table.fields")


def test_the_map_draws_and_opens_an_image_on_click(site, page, tmp_path):
    page.goto(f"{site}/map?color=dwell_time")
    page.wait_for_function(
        "() => { const c = document.getElementById('map').getContext('2d');"
        " return c.getImageData(0, 0, 800, 600).data.some(v => v > 0); }"
    )
    shoot(page, tmp_path, "map")
    points = page.evaluate("async () => (await (await fetch('/api/map')).json()).points")
    assert len(points) > 40
    # where the map drew the point of the first image, on the page (x and y span the canvas)
    target = page.evaluate(
        """(p) => {
            const c = document.getElementById('map'), box = c.getBoundingClientRect();
            const xs = p.map((q) => q.x), ys = p.map((q) => q.y);
            const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
            const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
            return [box.left + 10 + (p[0].x - x0) / (x1 - x0) * (c.width - 20),
                    box.top + 10 + (p[0].y - y0) / (y1 - y0) * (c.height - 20)];
        }""",
        points,
    )
    drawn = page.evaluate(
        """([x, y]) => {
            const c = document.getElementById('map'), box = c.getBoundingClientRect();
            return c.getContext('2d').getImageData(x - box.left, y - box.top, 1, 1).data[3];
        }""",
        target,
    )
    assert drawn == 255  # a point is drawn there
    page.mouse.click(*target)
    page.wait_for_url("**/image/**")
    assert page.url.endswith(f"/image/{points[0]['image_id']}")
    assert "dwell_time" in page.inner_text("table.fields")
