// cimp explorer: zoom and display range on an image page, the embedding map, the upload.
"use strict";

function viewer() {
  const img = document.getElementById("full");
  if (!img) return;
  let scale = 1;
  img.parentElement.addEventListener("wheel", (event) => {
    event.preventDefault();
    scale = Math.min(16, Math.max(1, scale * (event.deltaY < 0 ? 1.25 : 0.8)));
    const box = img.getBoundingClientRect();
    img.style.transformOrigin = `${event.clientX - box.left}px ${event.clientY - box.top}px`;
    img.style.transform = `scale(${scale})`;
  });
  const low = document.getElementById("low");
  const high = document.getElementById("high");
  const update = () => {
    img.src = `/full/${img.dataset.id}.png?low=${low.value}&high=${high.value}`;
  };
  low.addEventListener("change", update);
  high.addEventListener("change", update);
}

async function drawMap() {
  const canvas = document.getElementById("map");
  if (!canvas) return;
  const answer = await fetch(`/api/map?color=${encodeURIComponent(canvas.dataset.color)}`);
  const { color, points } = await answer.json();
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const values = points.map((p) => p[color]).filter((v) => v !== null);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const [v0, v1] = [Math.min(...values), Math.max(...values)];
  const ctx = canvas.getContext("2d");
  const place = (p) => [
    10 + ((p.x - x0) / (x1 - x0 || 1)) * (canvas.width - 20),
    10 + ((p.y - y0) / (y1 - y0 || 1)) * (canvas.height - 20),
  ];
  for (const p of points) {
    const [x, y] = place(p);
    const v = p[color];
    const t = v === null ? null : (Math.log(Math.max(v, 1e-12)) - Math.log(Math.max(v0, 1e-12))) /
      ((Math.log(Math.max(v1, 1e-12)) - Math.log(Math.max(v0, 1e-12))) || 1);
    ctx.fillStyle = t === null ? "#bbb" : `hsl(${240 - 240 * t}, 80%, 45%)`;
    ctx.fillRect(x - 2, y - 2, 4, 4);
  }
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    const cx = event.clientX - box.left, cy = event.clientY - box.top;
    let best = null, distance = Infinity;
    for (const p of points) {
      const [x, y] = place(p);
      const d = (x - cx) ** 2 + (y - cy) ** 2;
      if (d < distance) { best = p; distance = d; }
    }
    if (best && distance < 100) window.location = `/image/${best.image_id}`;
  });
}

function upload() {
  const form = document.getElementById("upload");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("query-file").files[0];
    if (!file) return;
    const answer = await fetch("/api/query", {
      method: "POST", body: file, headers: { "x-filename": file.name },
    });
    const found = await answer.json();
    const main = document.querySelector("main");
    if (found.error) { main.innerHTML = `<p class="error"></p>`; main.firstChild.textContent = found.error; return; }
    main.innerHTML = "<h1>images like the uploaded one</h1><div class='grid'></div>";
    const grid = main.querySelector(".grid");
    for (const row of found.rows) {
      const a = document.createElement("a");
      a.className = "tile"; a.href = `/image/${row.image_id}`;
      const img = document.createElement("img");
      img.src = `/thumb/${row.image_id}.png`; img.width = 128; img.height = 128;
      const span = document.createElement("span");
      span.textContent = `similarity ${row.similarity.toFixed(3)}`;
      a.append(img, span); grid.append(a);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => { viewer(); drawMap(); upload(); });
