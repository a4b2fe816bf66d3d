// Guide page: scroll today's grid to the now line; arrow keys scroll an hour. No dependencies.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const grid = document.getElementById("day-grid");
  const line = document.getElementById("now-line");
  if (!grid) return;
  const hour = 200;  // px per hour, as in guide.css (4800px a day)
  if (line) grid.scrollLeft = Math.max(0, line.offsetLeft - hour);
  grid.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") { grid.scrollLeft += hour; event.preventDefault(); }
    if (event.key === "ArrowLeft") { grid.scrollLeft -= hour; event.preventDefault(); }
  });
  document.body.dataset.ready = "yes";
});
