// Search by region: outline on each picture the region that matched (boxes are in the work's own
// pixels: percentages of its width and height, which the picture fills exactly).
"use strict";
for (const region of document.querySelectorAll(".framed .region")) {
  const [w, h] = region.dataset.size.split(",").map(Number);
  const [x0, y0, x1, y1] = region.dataset.box.split(",").map(Number);
  region.style.left = `${(100 * x0) / w}%`;
  region.style.top = `${(100 * y0) / h}%`;
  region.style.width = `${(100 * (x1 - x0)) / w}%`;
  region.style.height = `${(100 * (y1 - y0)) / h}%`;
}
