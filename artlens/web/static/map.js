// The collection map (/map): every work a dot, drawn straight into the canvas's pixels (100,000 dots cost
// a few milliseconds that way on a CPU, where WebGL in a GPU-less browser is emulated); thumbnails when
// zoomed in so far that few works are in view; cluster names; colour by a column with a legend; hover,
// click, facet switch (animated), box and lasso selection. Plain DOM, no framework.
"use strict";
(function () {
  const root = document.getElementById("mapper");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const canvas = $("map"), stage = $("stage"), status = $("map-status"), tip = $("tip"), legend = $("legend");
  const ctx = canvas.getContext("2d");
  const MAX_IDS = Number(root.dataset.maxIds) || 16;
  const THUMB_BUDGET = 160; // thumbnails are drawn only when at most this many works are in view
  const THUMB_CACHE = 600;
  const BG = [251, 250, 248];
  // Colours of the legend's values (Tableau 10 and two more), then "other" and "no value".
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#2f4b7c",
    "#8cd17d", "#d37295"];
  const OTHER = "#a8a49b", MISSING = "#d6d2c9", PLAIN = "#2f5d62";
  // firstPaint: every work drawn; colouredPaint: and coloured (ms since navigation start).
  const stats = { firstPaint: null, colouredPaint: null, points: 0, drawMs: [] };

  // ---- state ----
  let n = 0, ids = new Float64Array(0), x = new Float32Array(0), y = new Float32Array(0);
  let codes = new Uint8Array(0), colours = [], clusters = [];
  let selected = new Uint8Array(0), selectedCount = 0;
  let anim = null; // {fromX, fromY, toX, toY, start}
  let grid = null;
  let view = { cx: 0, cy: 0, scale: 1 };
  let width = 0, height = 0, dpr = 1, image = null, pixels = null;
  let mode = "pan", facet = "", colourBy = root.dataset.colourBy || "";
  let lastVisible = 1000, coloured = false;
  let dirty = false, hovered = -1, shape = null; // shape: the box or lasso being drawn, in CSS pixels
  const thumbs = new Map(); // id -> Image (Map keeps insertion order: the oldest is evicted first)
  let thumbsLoading = 0;

  // ---- sizes and the view ----
  function resize() {
    const r = canvas.getBoundingClientRect();
    dpr = Math.min(window.devicePixelRatio || 1, 2);
    width = Math.max(1, Math.round(r.width)); height = Math.max(1, Math.round(r.height));
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
    image = ctx.createImageData(canvas.width, canvas.height);
    pixels = new Uint32Array(image.data.buffer);
    request();
  }
  function fit() { // the works' bounding box, with a margin, or the map's square before they are loaded
    let ax = -1, bx = 1, ay = -1, by = 1;
    if (n) {
      ax = Infinity; bx = -Infinity; ay = Infinity; by = -Infinity;
      for (let i = 0; i < n; i++) { ax = Math.min(ax, x[i]); bx = Math.max(bx, x[i]); ay = Math.min(ay, y[i]); by = Math.max(by, y[i]); }
    }
    const w = Math.max(bx - ax, 0.05), h = Math.max(by - ay, 0.05);
    view = { cx: (ax + bx) / 2, cy: (ay + by) / 2, scale: Math.min(width / w, height / h) * 0.88 };
    request();
  }
  const toScreen = (wx, wy) => [(wx - view.cx) * view.scale + width / 2, (wy - view.cy) * view.scale + height / 2];
  const toWorld = (sx, sy) => [(sx - width / 2) / view.scale + view.cx, (sy - height / 2) / view.scale + view.cy];
  function zoomAt(sx, sy, factor) {
    const [wx, wy] = toWorld(sx, sy);
    view.scale = Math.min(Math.max(view.scale * factor, Math.min(width, height) / 8), Math.min(width, height) * 400);
    view.cx = wx - (sx - width / 2) / view.scale; view.cy = wy - (sy - height / 2) / view.scale;
    request();
  }

  // ---- colours: "#rrggbb" -> the canvas's pixel (little-endian RGBA in a Uint32) ----
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const pack = ([r, g, b]) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  const fade = (c) => c.map((v, i) => Math.round(v * 0.25 + BG[i] * 0.75));
  let codeColour = new Uint32Array(256), codeFaded = new Uint32Array(256);
  function setColours(values) {
    colours = values.map((_, i) => PALETTE[i % PALETTE.length]);
    for (let c = 0; c < 256; c++) {
      const hex = !values.length ? PLAIN : c < values.length ? colours[c] : c === 255 ? MISSING : OTHER;
      codeColour[c] = pack(rgb(hex)); codeFaded[c] = pack(fade(rgb(hex)));
    }
  }

  // ---- drawing: one frame at most per animation frame ----
  function request() { if (!dirty) { dirty = true; requestAnimationFrame(frame); } }
  function frame(now) {
    dirty = false;
    if (anim) {
      const t = Math.min(1, (now - anim.start) / 700), e = t < 0.5 ? 2 * t * t : 1 - Math.pow(-2 * t + 2, 2) / 2;
      for (let i = 0; i < n; i++) { x[i] = anim.fromX[i] + (anim.toX[i] - anim.fromX[i]) * e; y[i] = anim.fromY[i] + (anim.toY[i] - anim.fromY[i]) * e; }
      if (t >= 1) { anim = null; buildGrid(); status.textContent = describe(); } else request();
    }
    draw();
  }

  function draw() {
    if (!pixels) return;
    const t0 = performance.now();
    const W = canvas.width, H = canvas.height, s = view.scale * dpr, ox = W / 2 - view.cx * s, oy = H / 2 - view.cy * s;
    pixels.fill(pack(BG));
    // A dot's side follows the room each work in view has (last frame's count): 2 px when 100,000 crowd
    // the screen, up to 9 px when few are in view.
    const sideFor = (count) => Math.round(Math.max(2, Math.min(9, Math.sqrt((width * height) / Math.max(1, count)) * 0.25)) * dpr);
    const side = sideFor(lastVisible);
    const anySelected = selectedCount > 0;
    let visible = 0;
    const inView = [];
    for (let i = 0; i < n; i++) {
      const px = (x[i] * s + ox) | 0, py = (y[i] * s + oy) | 0;
      if (px < 0 || py < 0 || px >= W || py >= H) continue;
      visible++;
      if (visible <= THUMB_BUDGET) inView.push(i);
      const sel = selected[i] === 1;
      const colour = anySelected && !sel ? codeFaded[codes[i]] : codeColour[codes[i]];
      const d = sel ? side + 2 : side, h = d >> 1;
      const x0 = Math.max(0, px - h), x1 = Math.min(W - 1, px - h + d - 1), y0 = Math.max(0, py - h), y1 = Math.min(H - 1, py - h + d - 1);
      for (let yy = y0; yy <= y1; yy++) pixels.fill(colour, yy * W + x0, yy * W + x1 + 1);
    }
    ctx.putImageData(image, 0, 0);
    if (sideFor(visible) !== side) request(); // the count in view changed the dots' size: once more
    lastVisible = visible;
    ctx.save();
    ctx.scale(dpr, dpr);
    const thumbsShown = visible <= THUMB_BUDGET && visible > 0;
    if (thumbsShown) drawThumbs(inView, visible);
    stats.thumbnails = thumbsShown ? visible : 0;
    drawClusterNames();
    if (hovered >= 0 && !thumbsShown) ring(hovered);
    drawShape();
    ctx.restore();
    const ms = performance.now() - t0;
    stats.drawMs.push(ms); if (stats.drawMs.length > 1000) stats.drawMs.shift();
    if (stats.firstPaint === null && n) {
      stats.firstPaint = performance.now(); stats.points = n;
      canvas.dataset.state = "painted";
    }
    if (stats.colouredPaint === null && coloured) {
      stats.colouredPaint = performance.now();
      canvas.dataset.state = "ready"; // coloured, legend and cluster names in place
    }
  }

  function thumbSize(visible) { return Math.max(28, Math.min(110, Math.sqrt((width * height) / visible) * 0.55)); }
  function drawThumbs(list, visible) {
    const size = thumbSize(visible);
    for (const i of list) {
      const img = thumb(ids[i]);
      if (!img || !img.complete || !img.naturalWidth) continue;
      const k = size / Math.max(img.naturalWidth, img.naturalHeight), w = img.naturalWidth * k, h = img.naturalHeight * k;
      const [sx, sy] = toScreen(x[i], y[i]);
      // The frame has the work's colour, so that colouring still reads when thumbnails are drawn.
      ctx.fillStyle = colours.length ? frameColour(codes[i]) : "#fff"; ctx.fillRect(sx - w / 2 - 3, sy - h / 2 - 3, w + 6, h + 6);
      ctx.drawImage(img, sx - w / 2, sy - h / 2, w, h);
      if (selected[i] || i === hovered) { ctx.strokeStyle = "#1f1f1d"; ctx.lineWidth = 2; ctx.strokeRect(sx - w / 2 - 4, sy - h / 2 - 4, w + 8, h + 8); }
    }
  }
  const frameColour = (c) => (c < colours.length ? colours[c] : c === 255 ? MISSING : OTHER);
  function thumb(id) {
    let img = thumbs.get(id);
    if (img) { thumbs.delete(id); thumbs.set(id, img); return img; } // most recently used last
    if (thumbsLoading >= 8) { setTimeout(request, 50); return null; }
    img = new Image();
    thumbsLoading++;
    img.onload = img.onerror = () => { thumbsLoading--; request(); };
    img.src = `/api/artworks/${id}/thumbnail`;
    thumbs.set(id, img);
    while (thumbs.size > THUMB_CACHE) thumbs.delete(thumbs.keys().next().value);
    return img;
  }

  // Names of the biggest clusters first; a name that would overlap one already drawn waits for a closer zoom.
  function drawClusterNames() {
    if (anim) return;
    ctx.font = "600 13px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.lineJoin = "round"; ctx.lineWidth = 4; ctx.strokeStyle = "rgba(251,250,248,.9)"; ctx.fillStyle = "#1f1f1d";
    const placed = [];
    for (const c of clusters) {
      if (!c.name) continue;
      const [sx, sy] = toScreen(c.x, c.y);
      if (sx < -100 || sy < -20 || sx > width + 100 || sy > height + 20) continue;
      const w = ctx.measureText(c.name).width + 8, box = [sx - w / 2, sy - 10, sx + w / 2, sy + 10];
      if (placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) continue;
      placed.push(box);
      ctx.strokeText(c.name, sx, sy); ctx.fillText(c.name, sx, sy);
    }
  }
  function ring(i) {
    const [sx, sy] = toScreen(x[i], y[i]);
    ctx.beginPath(); ctx.arc(sx, sy, 6, 0, 2 * Math.PI); ctx.strokeStyle = "#1f1f1d"; ctx.lineWidth = 2; ctx.stroke();
  }
  function drawShape() {
    if (!shape) return;
    ctx.strokeStyle = "#2f5d62"; ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]); ctx.fillStyle = "rgba(47,93,98,.08)";
    ctx.beginPath();
    if (shape.kind === "box") ctx.rect(shape.x0, shape.y0, shape.x1 - shape.x0, shape.y1 - shape.y0);
    else shape.points.forEach(([px, py], k) => (k ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.closePath(); ctx.fill(); ctx.stroke(); ctx.setLineDash([]);
  }

  // ---- finding the work under the pointer: a grid over the map's square ----
  const G = 128;
  function buildGrid() {
    const cell = new Int32Array(n), counts = new Int32Array(G * G + 1);
    for (let i = 0; i < n; i++) {
      const gx = Math.min(G - 1, Math.max(0, ((x[i] + 1.05) / 2.1) * G | 0)), gy = Math.min(G - 1, Math.max(0, ((y[i] + 1.05) / 2.1) * G | 0));
      cell[i] = gy * G + gx; counts[cell[i] + 1]++;
    }
    for (let c = 0; c < G * G; c++) counts[c + 1] += counts[c];
    const order = new Int32Array(n), fill = counts.slice(0, G * G);
    for (let i = 0; i < n; i++) order[fill[cell[i]]++] = i;
    grid = { start: counts, order };
  }
  function nearest(sx, sy, radiusPx) {
    if (!grid || anim) return -1;
    const [wx, wy] = toWorld(sx, sy), rw = radiusPx / view.scale;
    const g = (v) => Math.min(G - 1, Math.max(0, ((v + 1.05) / 2.1) * G | 0));
    let best = -1, bestD = rw * rw;
    for (let gy = g(wy - rw); gy <= g(wy + rw); gy++) {
      for (let gx = g(wx - rw); gx <= g(wx + rw); gx++) {
        const c = gy * G + gx;
        for (let k = grid.start[c]; k < grid.start[c + 1]; k++) {
          const i = grid.order[k], d = (x[i] - wx) ** 2 + (y[i] - wy) ** 2;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }
  function hitRadius() {
    let visible = 0;
    const [ax, ay] = toWorld(0, 0), [bx, by] = toWorld(width, height);
    for (let i = 0; i < n && visible <= THUMB_BUDGET; i++) if (x[i] >= ax && x[i] <= bx && y[i] >= ay && y[i] <= by) visible++;
    return visible <= THUMB_BUDGET && visible > 0 ? thumbSize(visible) / 2 : 8;
  }

  // ---- loading: points (binary), colour codes and cluster names (JSON) ----
  async function fetchOk(url, options) {
    const r = await fetch(url, options);
    if (!r.ok) { const data = await r.json().catch(() => ({})); throw new Error(data.error || r.statusText); }
    return r;
  }
  async function loadPoints(f) {
    const r = await fetchOk(`/api/maps/${encodeURIComponent(f)}/points`);
    const buf = await r.arrayBuffer(), m = Number(r.headers.get("X-ArtLens-Count"));
    const big = new BigInt64Array(buf, 0, m);
    return { n: m, ids: Float64Array.from(big, Number), x: new Float32Array(buf, 8 * m, m), y: new Float32Array(buf, 12 * m, m) };
  }
  // Colours and cluster names are fetched first and applied together, so that no frame draws one
  // layout's works with another's colours. Returns the function that applies them.
  async function loadColours(f) {
    const by = colourBy ? `?by=${encodeURIComponent(colourBy)}` : "";
    const [v, named] = await Promise.all([
      colourBy ? fetchOk(`/api/maps/${encodeURIComponent(f)}/values?column=${encodeURIComponent(colourBy)}&top=${PALETTE.length}`).then((r) => r.json()) : null,
      fetchOk(`/api/maps/${encodeURIComponent(f)}/clusters${by}`).then((r) => r.json()),
    ]);
    return (count) => {
      codes = v ? Uint8Array.from(atob(v.codes), (ch) => ch.charCodeAt(0)) : new Uint8Array(count);
      setColours(v ? v.values : []);
      showLegend(v);
      clusters = named.clusters.sort((a, b) => b.size - a.size);
    };
  }
  let legendOpen = window.innerWidth > 700; // on a phone the legend starts folded: the map needs the room
  function showLegend(v) {
    legend.hidden = !v;
    if (!v) return;
    const rows = v.values.map((value, i) => [colours[i], value, v.counts[i]]);
    if (v.other) rows.push([OTHER, "other", v.other]);
    if (v.missing) rows.push([MISSING, "no value", v.missing]);
    const list = document.createElement("ol");
    for (const [colour, value, count] of rows) {
      const li = document.createElement("li"), sw = document.createElement("span"), label = document.createElement("span"), num = document.createElement("span");
      sw.className = "swatch"; sw.style.background = colour; // set from script: the CSP forbids inline styles
      label.textContent = value; num.className = "n"; num.textContent = count.toLocaleString();
      li.append(sw, label, num); list.append(li);
    }
    const head = document.createElement("summary");
    head.textContent = v.column;
    const box = document.createElement("details");
    box.open = legendOpen;
    box.addEventListener("toggle", () => (legendOpen = box.open));
    box.append(head, list);
    legend.replaceChildren(box);
  }
  const describe = () => `${n.toLocaleString()} works · ${facet} layout`;

  async function showFacet(f, animate) {
    status.textContent = `Loading the ${f} layout…`;
    // The three requests at once: the server answers them in parallel.
    const points = loadPoints(f), colouring = loadColours(f);
    if (!animate) { // the first map: draw the works as soon as they are here, colour them when the codes are
      const p = await points;
      facet = f; n = p.n; ids = p.ids; x = p.x; y = p.y;
      codes = new Uint8Array(n); setColours([]);
      selected = new Uint8Array(n); selectedCount = 0;
      buildGrid(); fit(); request();
      (await colouring)(n);
      status.textContent = describe();
      coloured = true; request();
      return;
    }
    const [p, applyColours] = await Promise.all([points, colouring]);
    const oldIndex = new Map();
    for (let i = 0; i < n; i++) oldIndex.set(ids[i], i);
    const fromX = new Float32Array(p.n), fromY = new Float32Array(p.n), keep = new Uint8Array(p.n);
    for (let i = 0; i < p.n; i++) {
      const j = oldIndex.get(p.ids[i]);
      fromX[i] = j === undefined ? p.x[i] : x[j]; fromY[i] = j === undefined ? p.y[i] : y[j];
      keep[i] = j === undefined ? 0 : selected[j];
    }
    facet = f; n = p.n; ids = p.ids;
    x = Float32Array.from(fromX); y = Float32Array.from(fromY);
    selected = keep; selectedCount = keep.reduce((a, b) => a + b, 0);
    applyColours(p.n);
    anim = { fromX, fromY, toX: p.x, toY: p.y, start: performance.now() };
    updateSelection();
    request();
  }

  // ---- pointer: pan, pinch, hover, click, box and lasso ----
  const pointers = new Map();
  let drag = null, pinch = null;
  const local = (ev) => { const r = canvas.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
  canvas.addEventListener("pointerdown", (ev) => {
    canvas.setPointerCapture(ev.pointerId);
    const [sx, sy] = local(ev);
    pointers.set(ev.pointerId, [sx, sy]);
    if (pointers.size === 2) { // pinch: forget any drag
      const [[ax, ay], [bx, by]] = [...pointers.values()];
      pinch = { d: Math.hypot(ax - bx, ay - by) || 1 }; drag = null; shape = null; return;
    }
    const kind = ev.shiftKey ? "box" : ev.altKey ? "lasso" : mode;
    drag = { kind, sx, sy, lx: sx, ly: sy, moved: false };
    if (kind === "box") shape = { kind, x0: sx, y0: sy, x1: sx, y1: sy };
    if (kind === "lasso") shape = { kind, points: [[sx, sy]] };
    canvas.classList.add(kind === "pan" ? "dragging" : "selecting");
  });
  canvas.addEventListener("pointermove", (ev) => {
    const [sx, sy] = local(ev);
    if (pointers.has(ev.pointerId)) pointers.set(ev.pointerId, [sx, sy]);
    if (pinch && pointers.size === 2) {
      const [[ax, ay], [bx, by]] = [...pointers.values()], d = Math.hypot(ax - bx, ay - by) || 1;
      zoomAt((ax + bx) / 2, (ay + by) / 2, d / pinch.d); pinch.d = d; return;
    }
    if (!drag) { hover(sx, sy); return; }
    if (Math.abs(sx - drag.sx) + Math.abs(sy - drag.sy) > 4) drag.moved = true;
    if (drag.kind === "pan") { view.cx -= (sx - drag.lx) / view.scale; view.cy -= (sy - drag.ly) / view.scale; hideTip(); }
    else if (drag.kind === "box") { shape.x1 = sx; shape.y1 = sy; }
    else shape.points.push([sx, sy]);
    drag.lx = sx; drag.ly = sy;
    request();
  });
  const end = (ev) => {
    pointers.delete(ev.pointerId);
    if (pointers.size < 2) pinch = null;
    canvas.classList.remove("dragging", "selecting");
    if (!drag) return;
    const d = drag; drag = null;
    if (!d.moved && ev.type === "pointerup") { // a click (or a tap) opens the work under it
      const i = nearest(d.sx, d.sy, hitRadius());
      if (i >= 0) location.href = `/artworks/${ids[i]}`;
    } else if (d.kind !== "pan" && shape) select(shape);
    shape = null; request();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("pointerleave", () => { if (!drag) hideTip(); });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [sx, sy] = local(ev);
    zoomAt(sx, sy, Math.exp(-ev.deltaY * (ev.deltaMode ? 0.05 : 0.0015)));
    hideTip();
  }, { passive: false });
  $("zoom-in").addEventListener("click", () => zoomAt(width / 2, height / 2, 1.6));
  $("zoom-out").addEventListener("click", () => zoomAt(width / 2, height / 2, 1 / 1.6));
  $("zoom-reset").addEventListener("click", fit);
  for (const b of root.querySelectorAll("[data-mode]")) {
    b.addEventListener("click", () => {
      mode = b.dataset.mode;
      root.querySelectorAll("[data-mode]").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
    });
  }

  // ---- hover: a tooltip with the work's thumbnail, title and artist ----
  const briefs = new Map();
  let hoverTimer = 0;
  function hover(sx, sy) {
    const i = nearest(sx, sy, hitRadius());
    if (i !== hovered) { hovered = i; request(); }
    if (i < 0) { hideTip(); return; }
    const id = ids[i];
    tip.hidden = false;
    tip.style.left = `${Math.min(sx + 14, width - 240)}px`; tip.style.top = `${Math.min(sy + 14, height - 90)}px`;
    tip.dataset.id = String(id);
    const img = tip.querySelector("img");
    if (img.dataset.id !== String(id)) { img.dataset.id = String(id); img.src = `/api/artworks/${id}/thumbnail`; }
    fillTip(id);
    clearTimeout(hoverTimer);
    if (!briefs.has(id)) hoverTimer = setTimeout(() => brief([id]).then(() => fillTip(id)).catch(() => {}), 60);
  }
  function fillTip(id) {
    if (tip.dataset.id !== String(id)) return;
    const a = briefs.get(id);
    tip.querySelector(".tip-title").textContent = a ? title(a) : `artwork ${id}`;
    tip.querySelector(".tip-artist").textContent = a ? (a.metadata.artist || "") + (a.metadata.year ? ` · ${a.metadata.year}` : "") : "";
  }
  function hideTip() { tip.hidden = true; if (hovered >= 0) { hovered = -1; request(); } }
  const title = (a) => a.metadata.title || a.path.split("/").pop();
  async function brief(list) { // id -> artwork, 500 ids a request (the API's maximum)
    const out = [];
    for (let k = 0; k < list.length; k += 500) {
      const q = list.slice(k, k + 500).map((id) => `id=${id}`).join("&");
      const data = await (await fetchOk(`/api/artworks/by-id?${q}`)).json();
      for (const a of data.artworks) { briefs.set(a.id, a); out.push(a); }
    }
    return out;
  }

  // ---- selection ----
  function select(sh) {
    const poly = sh.kind === "box"
      ? [[sh.x0, sh.y0], [sh.x1, sh.y0], [sh.x1, sh.y1], [sh.x0, sh.y1]] : sh.points;
    if (poly.length < 3) return;
    const world = poly.map(([px, py]) => toWorld(px, py));
    const xs = world.map((p) => p[0]), ys = world.map((p) => p[1]);
    const ax = Math.min(...xs), bx = Math.max(...xs), ay = Math.min(...ys), by = Math.max(...ys);
    selected = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (x[i] < ax || x[i] > bx || y[i] < ay || y[i] > by) continue;
      if (sh.kind === "box" || inside(x[i], y[i], world)) selected[i] = 1;
    }
    selectedCount = selected.reduce((a, b) => a + b, 0);
    updateSelection();
  }
  function inside(px, py, poly) { // even-odd rule
    let hit = false;
    for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
      const [xa, ya] = poly[a], [xb, yb] = poly[b];
      if ((ya > py) !== (yb > py) && px < ((xb - xa) * (py - ya)) / (yb - ya) + xa) hit = !hit;
    }
    return hit;
  }
  const selectedIds = () => { const out = []; for (let i = 0; i < n; i++) if (selected[i]) out.push(ids[i]); return out; };
  function updateSelection() {
    $("selection").hidden = selectedCount === 0;
    $("sel-count").textContent = `${selectedCount.toLocaleString()} selected`;
    $("sel-message").textContent = "";
    request();
  }
  $("sel-clear").addEventListener("click", () => { selected = new Uint8Array(n); selectedCount = 0; updateSelection(); });
  $("sel-search").addEventListener("click", () => {
    const chosen = selectedIds(), step = Math.max(1, chosen.length / MAX_IDS);
    // Spread over the selection, at most MAX_IDS (what one search takes).
    const some = [...new Set(Array.from({ length: Math.min(MAX_IDS, chosen.length) }, (_, k) => chosen[Math.floor(k * step)]))];
    location.href = "/?" + some.map((id) => `id=${id}`).join("&");
  });
  $("sel-export").addEventListener("click", async () => {
    const message = $("sel-message");
    message.textContent = "Collecting the list…";
    try {
      const rows = await brief(selectedIds());
      const cell = (v) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
      const csv = ["id,path,title", ...rows.map((a) => [String(a.id), a.path, a.metadata.title || ""].map(cell).join(","))].join("\r\n") + "\r\n";
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
      link.download = `artlens-map-${facet}-${rows.length}.csv`;
      document.body.append(link); link.click(); link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      message.textContent = `${rows.length} works in the list.`;
    } catch (e) { message.textContent = "Could not export: " + e.message; }
  });

  // Labels: the /label page's token handling (a ?token=... is kept for the tab and removed from the address).
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("artlens-token", params.get("token"));
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  }
  const token = () => sessionStorage.getItem("artlens-token") || "";
  $("token-save").addEventListener("click", () => {
    sessionStorage.setItem("artlens-token", $("token").value.trim());
    $("token-box").hidden = true; $("sel-message").textContent = "Token saved for this tab: answer again.";
  });
  $("sel-label").addEventListener("click", () => {
    $("label-form").hidden = !$("label-form").hidden;
    if (root.dataset.writes !== "1") $("sel-message").textContent = "Labelling is off: the server was started without ARTLENS_TOKEN.";
  });
  for (const b of $("label-form").querySelectorAll("[data-value]")) b.addEventListener("click", () => label(b.dataset.value));
  async function label(value) {
    const name = $("label-name").value.trim(), message = $("sel-message");
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) { message.textContent = "A label name is letters, digits, - and _."; return; }
    const list = selectedIds();
    // One request a work: a big selection deserves a second thought (and can be stopped by closing the page).
    if (list.length > 200 && !confirm(`Label all ${list.length.toLocaleString()} selected works “${name}: ${value}”?`)) return;
    let done = 0;
    try {
      for (const id of list) { // one at a time: the writer is one lock on the server anyway
        const r = await fetch(`/api/artworks/${id}/labels/${encodeURIComponent(name)}`, {
          method: "PUT", headers: { "Content-Type": "application/json", Authorization: "Bearer " + token() }, body: JSON.stringify({ value }) });
        if (r.status === 401 || r.status === 403) { if (root.dataset.writes === "1") $("token-box").hidden = false; throw new Error("the API token is needed"); }
        if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
        done++;
        if (done % 10 === 0) message.textContent = `Labelled ${done} of ${list.length}…`;
      }
      message.replaceChildren(`${done} works labelled “${name}: ${value}”. `);
      const more = document.createElement("a");
      more.href = `/label?name=${encodeURIComponent(name)}`; more.textContent = "Go on on the Label page";
      message.append(more);
    } catch (e) { message.textContent = `Labelled ${done} of ${list.length}; stopped: ${e.message}`; }
  }

  // ---- controls ----
  $("facet").addEventListener("change", (ev) => showFacet(ev.target.value, true).catch((e) => (status.textContent = e.message)));
  $("colour").addEventListener("change", async (ev) => {
    colourBy = ev.target.value;
    try { (await loadColours(facet))(n); } catch (e) { status.textContent = e.message; }
    request();
  });
  new ResizeObserver(() => { const keep = view.scale && width; resize(); if (!keep) fit(); }).observe(stage);

  // For tests and bench/map_page.py: timings, and where a work is on screen (CSS pixels from the canvas's corner).
  window.artlensMap = {
    stats,
    where(id) { for (let i = 0; i < n; i++) if (ids[i] === id) return toScreen(x[i], y[i]); return null; },
    ids: () => Array.from(ids),
  };

  resize(); fit();
  showFacet(root.dataset.facets.split(",")[0], false).catch((e) => (status.textContent = "Could not load the map: " + e.message));
})();
