// The artwork page: place the detected regions over the picture (boxes are in the work's own pixels,
// so percentages of its size), let the checkbox show or hide them, and let a drag over the picture
// draw a box that searches for works with a region like it. Inline styles are not allowed by the
// page's content security policy; setting them from a script is.
"use strict";
(function () {
  const boxed = document.getElementById("boxed");
  if (!boxed) return;
  const w = Number(boxed.dataset.width), h = Number(boxed.dataset.height);
  boxed.style.maxWidth = `calc(78vh * ${w / h})`; // as wide as the column allows, no taller than 78vh
  const place = (el, [x0, y0, x1, y1]) => {
    el.style.left = `${(100 * x0) / w}%`;
    el.style.top = `${(100 * y0) / h}%`;
    el.style.width = `${(100 * (x1 - x0)) / w}%`;
    el.style.height = `${(100 * (y1 - y0)) / h}%`;
  };
  for (const region of boxed.querySelectorAll(".region")) place(region, region.dataset.box.split(",").map(Number));
  const toggle = document.getElementById("show-regions");
  if (toggle) toggle.addEventListener("change", () => boxed.classList.toggle("hide-regions", !toggle.checked));

  // Drawing: pointer position -> the work's pixels; a drag of a few screen pixels or more is a box, also
  // when it starts on a detected box (a portrait's person box may cover nearly the whole picture); a
  // click without a drag on a detected box follows its link.
  const drawn = document.getElementById("drawn");
  let start = null, link = null;
  const at = (event) => {
    const r = boxed.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - r.left, 0), r.width), y = Math.min(Math.max(event.clientY - r.top, 0), r.height);
    return { x: (x * w) / r.width, y: (y * h) / r.height, sx: x, sy: y };
  };
  const corners = (a, b) => [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
  boxed.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    link = event.target.closest(".region");
    start = at(event);
    boxed.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  boxed.addEventListener("pointermove", (event) => {
    if (!start) return;
    place(drawn, corners(start, at(event)));
    drawn.hidden = false;
  });
  boxed.addEventListener("pointerup", (event) => {
    if (!start) return;
    const end = at(event), first = start;
    start = null;
    if (Math.abs(end.sx - first.sx) < 6 || Math.abs(end.sy - first.sy) < 6) {
      drawn.hidden = true;
      if (link) window.location.href = link.href;
      return;
    }
    const box = corners(first, end).map((v) => Math.round(v)).join(",");
    window.location.href = `/artworks/${boxed.dataset.id}/regions?box=${box}`;
  });
  // Pointer clicks on a detected box are handled above; keyboard activation (detail 0) follows the link.
  boxed.addEventListener("click", (event) => {
    if (event.detail > 0 && event.target.closest(".region")) event.preventDefault();
  });
})();
