// The artwork page: place the detected regions over the picture (boxes are in the work's own pixels,
// so percentages of its size) and let the checkbox show or hide them. Inline styles are not allowed
// by the page's content security policy; setting them from a script is.
"use strict";
(function () {
  const boxed = document.getElementById("boxed");
  if (!boxed) return;
  const w = Number(boxed.dataset.width), h = Number(boxed.dataset.height);
  boxed.style.maxWidth = `calc(78vh * ${w / h})`; // as wide as the column allows, no taller than 78vh
  for (const region of boxed.querySelectorAll(".region")) {
    const [x0, y0, x1, y1] = region.dataset.box.split(",").map(Number);
    region.style.left = `${(100 * x0) / w}%`;
    region.style.top = `${(100 * y0) / h}%`;
    region.style.width = `${(100 * (x1 - x0)) / w}%`;
    region.style.height = `${(100 * (y1 - y0)) / h}%`;
  }
  const toggle = document.getElementById("show-regions");
  if (toggle) toggle.addEventListener("change", () => boxed.classList.toggle("hide-regions", !toggle.checked));
})();
