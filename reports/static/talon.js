/* Talon reports: sortable and filterable tables, no network, no dependencies.
   Tables with class "data" get a filter box above them (rows not containing the typed text are
   hidden) and clickable headers (numbers sort as numbers; a cell's data-sort wins over its text).
   A work list (clinic fix list) has one filter box for all its group tables (class "worklist",
   sortable too): it hides the rows without the typed text and the groups left with none. */
(function () {
  "use strict";
  function cellKey(row, i) {
    var cell = row.cells[i];
    if (!cell) { return ""; }
    var key = cell.getAttribute("data-sort");
    return key !== null ? key : cell.textContent.trim();
  }
  function compare(a, b) {
    var na = Number(a), nb = Number(b);
    if (a !== "" && b !== "" && !isNaN(na) && !isNaN(nb)) { return na - nb; }
    return a.localeCompare(b, undefined, {numeric: true});
  }
  function makeSortable(table) {
    var head = table.tHead;
    if (!head || !table.tBodies.length) { return; }
    var headers = head.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, i) {
      th.classList.add("sortable");
      th.setAttribute("tabindex", "0");
      function sort() {
        var body = table.tBodies[0];
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(cellKey(r1, i), cellKey(r2, i));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  }
  function makeFilterable(table) {
    if (!table.tBodies.length) { return; }
    var input = document.createElement("input");
    input.type = "search";
    input.className = "tfilter";
    input.placeholder = table.getAttribute("data-filter-label") || "Filter";
    input.setAttribute("aria-label", input.placeholder);
    input.addEventListener("input", function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.hidden = needle !== "" && r.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
    table.parentNode.insertBefore(input, table);
  }
  function makeGlobalFilter(box) {
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = box.getAttribute("data-filter-label") || "Filter";
    input.setAttribute("aria-label", input.placeholder);
    input.addEventListener("input", function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(document.querySelectorAll("table.worklist"), function (t) {
        var shown = 0;
        Array.prototype.forEach.call(t.tBodies[0].rows, function (r) {
          r.hidden = needle !== "" && r.textContent.toLowerCase().indexOf(needle) < 0;
          if (!r.hidden) { shown += 1; }
        });
        var group = t.closest("section.group");
        if (group) { group.hidden = shown === 0; }
      });
    });
    box.appendChild(input);
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (t) {
      makeFilterable(t);
      makeSortable(t);
    });
    Array.prototype.forEach.call(document.querySelectorAll("table.worklist"), makeSortable);
    Array.prototype.forEach.call(document.querySelectorAll("[data-filter-all]"),
                                 makeGlobalFilter);
    document.documentElement.setAttribute("data-js", "ready");
  });
}());
