"""`cimp serve`: pages, filters, pictures, neighbours, uploads, and no way out of the dataset."""

from __future__ import annotations

import io
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import tiny_train_config
from PIL import Image

from cimp.embeddings import embed_dataset
from cimp.serve.app import MAX_UPLOAD, create_app
from cimp.serve.archive import Archive
from cimp.store import Store
from cimp.train import train

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def served(tiny_dataset, tmp_path_factory):
    """The tiny dataset, a tiny run embedding it, and a test client of the explorer."""
    root = tmp_path_factory.mktemp("serve")
    run = train(tiny_train_config(tiny_dataset, root / "run"), show_progress=False)
    embed_dataset(run, tiny_dataset, "cpu", show_progress=False)
    archive = Archive(tiny_dataset, run, cache=root / "cache")
    return TestClient(create_app(archive)), archive


def test_the_grid_lists_every_image_and_a_filter_narrows_it(served):
    client, archive = served
    everything = client.get("/?limit=500")
    assert everything.status_code == 200
    assert everything.text.count('class="tile"') == len(archive.table) > 40
    slow = archive.table["dwell_time"] > 5.0
    narrowed = client.get("/", params={"where": "dwell_time>5us", "limit": 500})
    assert narrowed.text.count('class="tile"') == int(slow.sum()) > 0
    api = client.get("/api/images", params={"where": "dwell_time>5us", "split": "train"}).json()
    assert api["total"] == int((slow & (archive.table["split"] == "train")).sum())


def test_pages_of_the_grid_follow_one_another(served):
    client, _ = served
    first = client.get("/api/images", params={"limit": 20, "sort": "pixel_size"}).json()
    second = client.get(
        "/api/images", params={"limit": 20, "offset": 20, "sort": "pixel_size"}
    ).json()
    sizes = [r["pixel_size"] for r in first["rows"] + second["rows"]]
    assert len(sizes) == 40 and sizes == sorted(sizes)
    by_audit = client.get("/", params={"sort": "audit", "limit": 5}).text
    assert by_audit.count("audit ") == 5


def test_a_bad_filter_is_a_clear_error_not_a_crash(served):
    client, _ = served
    page = client.get("/", params={"where": "dwell_time>fast"}, headers={"accept": "text/html"})
    assert page.status_code == 400 and "is not a number" in page.text
    api = client.get("/api/images", params={"where": "__import__('os')>1"})
    assert api.status_code == 400 and "error" in api.json()


def test_an_image_page_shows_its_fields_its_audit_and_neighbours(served):
    client, archive = served
    row = archive.table.iloc[3]
    page = client.get(f"/image/{row['image_id']}")
    assert page.status_code == 200
    assert "dwell_time" in page.text and f"{row['dwell_time']:.4g} us" in page.text
    assert "nearest by image" in page.text and "nearest by settings" in page.text
    assert page.text.count('class="tile"') == 16 and "audit: score" in page.text
    assert "what the run reads from the pixels" in page.text
    assert page.text.count("<tr>", page.text.index('class="predicted"')) == 1 + len(
        archive.predictor.fields
    )


def test_thumbnails_are_pngs_made_once(served):
    client, archive = served
    image_id = archive.table["image_id"].iloc[0]
    first = client.get(f"/thumb/{image_id}.png")
    assert first.status_code == 200 and first.content[:8] == b"\x89PNG\r\n\x1a\n"
    cached = archive.cache / f"{image_id}.png"
    assert cached.exists()
    made = cached.stat().st_mtime_ns
    assert client.get(f"/thumb/{image_id}.png").content == first.content
    assert cached.stat().st_mtime_ns == made


def test_the_display_range_changes_the_picture(served):
    client, archive = served
    image_id = archive.table["image_id"].iloc[0]
    wide = client.get(f"/full/{image_id}.png", params={"low": 0, "high": 100}).content
    narrow = client.get(f"/full/{image_id}.png", params={"low": 40, "high": 60}).content
    assert wide != narrow
    assert client.get(f"/full/{image_id}.png", params={"low": 60, "high": 40}).status_code == 400


def test_search_by_settings_and_by_an_uploaded_image(served, tmp_path):
    client, archive = served
    found = client.get("/search", params={"q": "dwell_time=2us pixel_size=0.05nm"})
    assert found.status_code == 200 and found.text.count('class="tile"') == 24
    image = Store(archive.root).image(archive.table["image_id"].iloc[5])
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image)
    hits = client.post(
        "/api/query", content=buffer.getvalue(), headers={"x-filename": "mine.tif"}
    ).json()["rows"]
    assert hits[0]["image_id"] == archive.table["image_id"].iloc[5]  # itself, first
    assert not any("query" in p.name for p in archive.root.rglob("*"))


def test_uploads_are_size_limited_and_never_kept(served):
    client, archive = served
    before = {p for p in archive.root.rglob("*")}
    huge = client.post("/api/query", content=b"0" * (MAX_UPLOAD + 1))
    assert huge.status_code == 400 and "larger than" in huge.json()["error"]
    junk = client.post("/api/query", content=b"not an image", headers={"x-filename": "x.tif"})
    assert junk.status_code == 400 and "cannot read" in junk.json()["error"]
    assert {p for p in archive.root.rglob("*")} == before


@pytest.mark.parametrize(
    "url",
    [
        "/thumb/../dataset.json",
        "/thumb/..%2F..%2Fdataset.json",
        "/thumb/%2e%2e%2fdataset.json.png",
        "/thumb/%2Fetc%2Fpasswd.png",
        "/full//etc/passwd",
        "/image/..%2F..%2Fetc%2Fpasswd",
        "/image/%2Fetc%2Fpasswd",
        "/static/../archive.py",
        "/static/..%2Fapp.py",
        "/static/%2Fetc%2Fpasswd",
    ],
)
def test_no_url_reads_a_file_outside_the_dataset(served, url):
    client, _ = served
    answer = client.get(url)
    assert answer.status_code == 404, (url, answer.status_code)
    assert b"root:" not in answer.content and b"dataset.json" not in answer.content[:200]


def test_a_symlink_in_the_cache_is_never_followed_out(served, tmp_path):
    client, archive = served
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    image_id = archive.table["image_id"].iat[7]
    link = archive.cache / f"{image_id}.png"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    answer = client.get(f"/thumb/{image_id}.png")
    assert answer.status_code == 200 and b"secret" not in answer.content
    assert Image.open(io.BytesIO(answer.content)).size == (48, 48)  # the image's own thumbnail
    assert not link.is_symlink() and secret.read_bytes() == b"\x89PNG secret"


def test_the_map_places_every_embedded_image(served):
    client, archive = served
    points = client.get("/api/map", params={"color": "dwell_time"}).json()["points"]
    assert len(points) == len(archive.emb.table)
    assert all(np.isfinite([p["x"], p["y"]]).all() for p in points)
    assert client.get("/map", params={"color": "nonsense"}).status_code == 400


def test_the_explorer_works_without_a_run(tiny_dataset, tmp_path):
    client = TestClient(create_app(Archive(tiny_dataset, cache=tmp_path)))
    assert client.get("/").status_code == 200
    assert client.get("/skipped").status_code == 200
    answer = client.get("/search", params={"q": "dwell_time=2us"})
    assert answer.status_code == 400 and "--run" in answer.text


@pytest.fixture(scope="module")
def denoiser(served, tmp_path_factory):
    """A denoiser of two training steps on the served run (what the page shows, not how well)."""
    from cimp.config import DenoiserConfig
    from cimp.denoise.train import train_denoiser

    _, archive = served
    out = tmp_path_factory.mktemp("denoiser") / "d"
    config = DenoiserConfig(
        str(archive.run.path), str(out), twin=8, size=64, crop=32, steps=2, widths=[8, 16]
    )
    return train_denoiser(config, show_progress=False)


def test_a_denoiser_adds_a_dose_transfer_preview(served, denoiser, tiny_dataset, tmp_path):
    _, archive = served
    client = TestClient(create_app(Archive(tiny_dataset, archive.run.path, tmp_path, denoiser)))
    image_id = archive.table["image_id"].iloc[0]
    assert f"/dose/{image_id}.png" in client.get(f"/image/{image_id}").text
    preview = client.get(f"/dose/{image_id}.png")
    assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG"
    assert client.get(f"/dose/{image_id}.png", params={"dwell_time": "x0.5"}).status_code == 400


def _listening(port: int) -> list[str]:
    """The addresses a TCP socket listens on at `port` (IPv4, from /proc/net/tcp)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, at = local.split(":")
        if state == "0A" and int(at, 16) == port:  # 0A: LISTEN
            found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_cimp_serve_listens_on_this_machine_alone_and_shows_the_dose_preview(
    served, denoiser, tiny_dataset, tmp_path
):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    _, archive = served
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "cimp.cli", "serve", str(tiny_dataset), "--run",
               str(archive.run.path), "--denoiser", str(denoiser), "--port", str(port)]  # fmt: skip
    log = tmp_path / "serve.txt"
    env = {**os.environ, "CIMP_CACHE": str(tmp_path / "cache"), "COLUMNS": "250"}
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"nothing listens on {port}: {log.read_text()}"
            time.sleep(0.1)
        assert _listening(port) == ["127.0.0.1"]  # not 0.0.0.0: no other machine reaches it
        image_id = archive.table["image_id"].iloc[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/image/{image_id}", timeout=30) as r:
            assert r.status == 200 and f"/dose/{image_id}.png" in r.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
    said = " ".join(log.read_text().split())
    assert f"at http://127.0.0.1:{port}/" in said and "others can reach it" not in said


def test_serve_on_another_address_says_that_others_can_reach_it(tiny_dataset, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from cimp.cli import app

    asked = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **where: asked.append(where))
    for host in ("0.0.0.0", "127.0.0.1"):
        args = ["serve", str(tiny_dataset), "--host", host, "--port", "8123"]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        warned = f"listening on {host}: others can reach it" in " ".join(result.output.split())
        assert warned == (host == "0.0.0.0")
    assert [(w["host"], w["port"]) for w in asked] == [("0.0.0.0", 8123), ("127.0.0.1", 8123)]
