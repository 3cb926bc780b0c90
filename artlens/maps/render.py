"""Pictures of a map for reports and papers: a PNG (matplotlib) and a self-contained HTML page.

Both colour the works by one column (its most common values get their own colour, the rest share
"other"), and write the clusters' names where the clusters are. The HTML page carries its data and
its small script inline (no CDN, no server): it opens from a file, pans, zooms and names the work
under the pointer, with its thumbnail when they were included.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOP_VALUES = 12  # values with a colour of their own; a legend of more is unreadable
OTHER, NONE = "other", "(none)"
OTHER_COLOUR, NONE_COLOUR = "#9e9e9e", "#d6d6d6"
# Tableau's 10 and a few more, readable on white and for most colour-blind readers (matplotlib's tab10 first).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79",
           "#637939", "#843c39")


@dataclass
class MapPicture:
    title: str
    facet: str
    ids: np.ndarray
    xy: np.ndarray
    colour_by: str
    values: Sequence[str | None]
    clusters: list[tuple[float, float, str]]  # centre x, y and name
    paths: Sequence[str]


def legend(values: Sequence[str | None]) -> tuple[list[str], np.ndarray]:
    """(legend entries, entry index per work): the TOP_VALUES most common values, then "other" and "(none)" when used."""
    counts = Counter(v for v in values if v)
    top = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]]
    entries = list(top)
    has_other = len(counts) > len(top)
    if has_other:
        entries.append(OTHER)
    if any(not v for v in values):
        entries.append(NONE)
    where = {v: i for i, v in enumerate(top)}
    other = entries.index(OTHER) if has_other else -1
    none = entries.index(NONE) if NONE in entries else -1
    index = np.asarray([where.get(v, other) if v else none for v in values], np.int32)
    return entries, index


def colours(entries: list[str]) -> list[str]:
    out, k = [], 0
    for e in entries:
        if e == OTHER:
            out.append(OTHER_COLOUR)
        elif e == NONE:
            out.append(NONE_COLOUR)
        else:
            out.append(PALETTE[k % len(PALETTE)])
            k += 1
    return out


def write_png(p: MapPicture, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    entries, index = legend(p.values)
    cols = colours(entries)
    fig, ax = plt.subplots(figsize=(11, 8), dpi=150)
    size = float(np.clip(30_000 / max(1, len(p.ids)), 0.3, 25))
    handles = {}
    # Grey entries first, so the coloured works are drawn over them.
    for e in sorted(range(len(entries)), key=lambda i: entries[i] in (OTHER, NONE), reverse=True):
        mask = index == e
        if mask.any():
            label = f"{entries[e].replace('_', ' ')} ({int(mask.sum())})"
            handles[e] = ax.scatter(p.xy[mask, 0], p.xy[mask, 1], s=size, c=cols[e], label=label, linewidths=0, alpha=0.8)
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for x, y, name in p.clusters:
        ax.text(x, y, name, fontsize=7, ha="center", va="center", path_effects=halo)
    ax.set_title(p.title, fontsize=11)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if handles:
        ordered = [handles[e] for e in sorted(handles)]  # the legend in entry order: most common value first
        ax.legend(ordered, [str(h.get_label()) for h in ordered], title=p.colour_by, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  fontsize=7, title_fontsize=8, markerscale=max(1.0, 6 / np.sqrt(size)), frameon=False)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)


def write_html(p: MapPicture, out: Path, thumbnail: Callable[[int], bytes | None] | None = None) -> None:
    entries, index = legend(p.values)
    data = {
        "ids": [int(i) for i in p.ids], "x": np.round(p.xy[:, 0], 5).tolist(), "y": np.round(p.xy[:, 1], 5).tolist(),
        "v": index.tolist(), "values": [str(v) if v else "" for v in p.values], "entries": entries, "colours": colours(entries),
        "names": [Path(path).name for path in p.paths], "clusters": [[x, y, n] for x, y, n in p.clusters], "colourBy": p.colour_by,
    }
    if thumbnail is not None:
        data["thumbs"] = [_data_uri(thumbnail(int(i))) for i in p.ids]
    # Inside <script>, "</script>" or "<!--" in a value would end the script: escape every "<".
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    out.write_text(_PAGE.replace("{title}", html.escape(p.title)).replace("{data}", payload), encoding="utf-8")


def _data_uri(jpeg: bytes | None) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii") if jpeg else ""


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font:13px system-ui,sans-serif;color:#222;display:flex;height:100vh}
#map{flex:1;position:relative}canvas{width:100%;height:100%;display:block;cursor:grab}
#side{width:260px;overflow:auto;padding:8px 12px;border-left:1px solid #ddd}
#tip{position:absolute;pointer-events:none;background:#fff;border:1px solid #999;padding:4px;display:none;max-width:240px}
#tip img{display:block;max-width:200px;max-height:200px}.sw{display:inline-block;width:10px;height:10px;margin-right:6px}
h1{font-size:14px}
</style></head><body>
<div id="map"><canvas id="c"></canvas><div id="tip"></div></div>
<div id="side"><h1>{title}</h1><p>Drag to pan, wheel to zoom, hover a point for the work.</p><div id="legend"></div></div>
<script>
const D = {data};
const cv = document.getElementById("c"), ctx = cv.getContext("2d"), tip = document.getElementById("tip");
let scale = 1, ox = 0, oy = 0, drag = null;
const n = D.ids.length, r = Math.max(1.5, Math.min(6, 300 / Math.sqrt(n + 1)));
function size() { cv.width = cv.clientWidth * devicePixelRatio; cv.height = cv.clientHeight * devicePixelRatio; draw(); }
function toScreen(i) {
  const s = Math.min(cv.width, cv.height) * 0.45 * scale;
  return [cv.width / 2 + (D.x[i] + ox) * s, cv.height / 2 - (D.y[i] + oy) * s];
}
function draw() {
  ctx.clearRect(0, 0, cv.width, cv.height);
  const grey = i => D.entries[D.v[i]] === "other" || D.entries[D.v[i]] === "(none)";
  const order = [...Array(n).keys()].sort((a, b) => grey(b) - grey(a));
  for (const i of order) {
    const [px, py] = toScreen(i);
    ctx.fillStyle = D.colours[D.v[i]] || "#999";
    ctx.beginPath(); ctx.arc(px, py, r * devicePixelRatio, 0, 6.283); ctx.fill();
  }
  ctx.font = (11 * devicePixelRatio) + "px system-ui"; ctx.textAlign = "center"; ctx.lineWidth = 3 * devicePixelRatio;
  ctx.strokeStyle = "#fff"; ctx.fillStyle = "#000";
  const s = Math.min(cv.width, cv.height) * 0.45 * scale;
  for (const [x, y, name] of D.clusters) {
    const px = cv.width / 2 + (x + ox) * s, py = cv.height / 2 - (y + oy) * s;
    ctx.strokeText(name.replaceAll("_", " "), px, py); ctx.fillText(name.replaceAll("_", " "), px, py);
  }
}
function nearest(mx, my) {
  let best = -1, bd = (10 * devicePixelRatio) ** 2;
  for (let i = 0; i < n; i++) { const [px, py] = toScreen(i); const d = (px - mx) ** 2 + (py - my) ** 2; if (d < bd) { bd = d; best = i; } }
  return best;
}
cv.addEventListener("mousedown", e => { drag = [e.clientX, e.clientY, ox, oy]; });
window.addEventListener("mouseup", () => { drag = null; });
cv.addEventListener("mousemove", e => {
  const s = Math.min(cv.width, cv.height) * 0.45 * scale;
  if (drag) { ox = drag[2] + (e.clientX - drag[0]) * devicePixelRatio / s; oy = drag[3] - (e.clientY - drag[1]) * devicePixelRatio / s; draw(); return; }
  const b = cv.getBoundingClientRect(), i = nearest((e.clientX - b.left) * devicePixelRatio, (e.clientY - b.top) * devicePixelRatio);
  if (i < 0) { tip.style.display = "none"; return; }
  tip.textContent = "";
  if (D.thumbs && D.thumbs[i]) { const img = document.createElement("img"); img.src = D.thumbs[i]; tip.appendChild(img); }
  const line = document.createElement("div");
  line.textContent = "#" + D.ids[i] + " " + D.names[i] + (D.values[i] ? " · " + D.colourBy + ": " + D.values[i] : "");
  tip.appendChild(line);
  tip.style.left = (e.clientX - b.left + 12) + "px"; tip.style.top = (e.clientY - b.top + 12) + "px"; tip.style.display = "block";
});
cv.addEventListener("wheel", e => { e.preventDefault(); scale *= e.deltaY < 0 ? 1.2 : 1 / 1.2; draw(); }, {passive: false});
const lg = document.getElementById("legend"), title = document.createElement("h2");
title.textContent = D.colourBy; title.style.fontSize = "13px"; lg.appendChild(title);
D.entries.forEach((e, k) => {
  const row = document.createElement("div"), sw = document.createElement("span");
  sw.className = "sw"; sw.style.background = D.colours[k]; row.appendChild(sw);
  row.appendChild(document.createTextNode(e.replaceAll("_", " ") + " (" + D.v.filter(v => v === k).length + ")"));
  lg.appendChild(row);
});
window.addEventListener("resize", size); size();
</script></body></html>
"""
