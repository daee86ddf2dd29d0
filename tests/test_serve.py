"""`cimp serve`: pages, filters, pictures, neighbours, uploads, and no way out of the dataset."""

from __future__ import annotations

import io
import warnings

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


def test_a_denoiser_adds_a_dose_transfer_preview(served, tiny_dataset, tmp_path):
    from cimp.config import DenoiserConfig
    from cimp.denoise.train import train_denoiser

    _, archive = served
    config = DenoiserConfig(
        str(archive.run.path),
        str(tmp_path / "d"),
        twin=8,
        size=64,
        crop=32,
        steps=2,
        widths=[8, 16],
    )
    drun = train_denoiser(config, show_progress=False)
    client = TestClient(create_app(Archive(tiny_dataset, archive.run.path, tmp_path, drun)))
    image_id = archive.table["image_id"].iloc[0]
    assert f"/dose/{image_id}.png" in client.get(f"/image/{image_id}").text
    preview = client.get(f"/dose/{image_id}.png")
    assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG"
    assert client.get(f"/dose/{image_id}.png", params={"dwell_time": "x0.5"}).status_code == 400
