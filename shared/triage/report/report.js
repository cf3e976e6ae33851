// The worklist's sorting and filtering: a progressive enhancement, the table is
// complete without it. Allowed by its hash in the page's Content-Security-Policy.
(() => {
  "use strict";
  const table = document.getElementById("worklist-table");
  const controls = document.getElementById("controls");
  if (!table || !controls) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const texts = rows.map((r) => r.textContent.toLowerCase().replace(/\s+/g, " "));
  const filter = document.getElementById("filter");
  const boxes = Array.from(controls.querySelectorAll('input[name="priority"]'));
  const shown = document.getElementById("shown");

  // Filtering: every word of the text box, in a row of a checked priority.
  const apply = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const priorities = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
    let n = 0;
    rows.forEach((r, i) => {
      const show = priorities.has(r.dataset.priority) && words.every((w) => texts[i].includes(w));
      r.hidden = !show;
      if (show) n++;
    });
    shown.textContent = n === rows.length ? `all ${n} APIs shown` : `${n} of ${rows.length} APIs shown`;
  };
  filter.addEventListener("input", apply);
  boxes.forEach((b) => b.addEventListener("change", apply));

  // Sorting: a button in each sortable header; clicking it again reverses the order.
  // Ties keep the worklist's order.
  const heads = Array.from(table.tHead.rows[0].cells);
  const place = new Map(rows.map((r, i) => [r, i]));
  const keyOf = (row, col, type) => {
    const cell = row.cells[col];
    const raw = cell.dataset.key ?? cell.textContent.trim();
    return type === "number" ? Number(raw) : raw.toLowerCase();
  };
  heads.forEach((th, col) => {
    const type = th.dataset.sort;
    if (!type) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.append(...th.childNodes);
    th.append(button);
    th.setAttribute("aria-sort", col === 0 ? "ascending" : "none");
    button.addEventListener("click", () => {
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach((h) => h.dataset.sort && h.setAttribute("aria-sort", "none"));
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      const keys = new Map(rows.map((r) => [r, keyOf(r, col, type)]));
      const sorted = rows.slice().sort((a, b) => {
        const x = keys.get(a), y = keys.get(b);
        const c = type === "number" ? x - y : x.localeCompare(y);
        return c !== 0 ? c * dir : place.get(a) - place.get(b);
      });
      body.append(...sorted);
    });
  });

  // Printing opens every expandable part (signals' sources, policies), and closes
  // them again after.
  let opened = [];
  addEventListener("beforeprint", () => {
    opened = Array.from(document.querySelectorAll("details:not([open])"));
    opened.forEach((d) => { d.open = true; });
  });
  addEventListener("afterprint", () => {
    opened.forEach((d) => { d.open = false; });
    opened = [];
  });

  controls.hidden = false;
  document.documentElement.classList.add("js");
  apply();
})();
