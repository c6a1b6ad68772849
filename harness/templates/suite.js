/* Suite page actions (no network, no dependencies): the status filter, sortable columns, the chart selector. */
(function () {
  var table = document.getElementById("results");
  var filter = document.getElementById("status-filter");
  var count = document.getElementById("filter-count");

  function applyFilter() {
    if (!table || !filter) { return; }
    var wanted = filter.value ? filter.value.split(" ") : [];
    var rows = table.querySelectorAll("tr.data-row"), shown = 0;
    Array.prototype.forEach.call(rows, function (row) {
      var have = (row.getAttribute("data-statuses") || "").split(" ");
      var keep = !wanted.length || wanted.some(function (s) { return have.indexOf(s) >= 0; });
      row.hidden = !keep;
      shown += keep ? 1 : 0;
      Array.prototype.forEach.call(row.querySelectorAll("td.cell"), function (td) {
        td.classList.toggle("dim", wanted.length > 0 && wanted.indexOf(td.getAttribute("data-status")) < 0);
      });
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {  // a scale block with no row left
      body.hidden = !body.querySelector("tr.data-row:not([hidden])");
    });
    if (count) { count.textContent = wanted.length ? shown + " of " + rows.length + " rows" : ""; }
  }

  function sortBy(button) {
    var col = button.getAttribute("data-col");
    var dir = button.getAttribute("aria-sort") === "descending" ? 1 : -1;  // first click: highest first
    Array.prototype.forEach.call(table.querySelectorAll("button.sort"), function (b) { b.removeAttribute("aria-sort"); });
    button.setAttribute("aria-sort", dir < 0 ? "descending" : "ascending");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr.data-row"));
      rows.sort(function (a, b) {
        if (col === "row") {
          return -dir * a.getAttribute("data-row").localeCompare(b.getAttribute("data-row"));
        }
        var ca = a.querySelector('td[data-col="' + col + '"]'), cb = b.querySelector('td[data-col="' + col + '"]');
        var va = ca ? parseFloat(ca.getAttribute("data-sort")) : NaN, vb = cb ? parseFloat(cb.getAttribute("data-sort")) : NaN;
        if (isNaN(va) && isNaN(vb)) { return 0; }
        if (isNaN(va)) { return 1; }  // rows without a value last, either direction
        if (isNaN(vb)) { return -1; }
        return dir < 0 ? vb - va : va - vb;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  }

  if (filter) {
    filter.addEventListener("change", applyFilter);
    // a link can carry the filter: suite.html#status=deviates (the option's value, spaces as '+')
    var m = /^#status=([\w+-]+)$/.exec(location.hash);
    if (m) { filter.value = m[1].replace(/\+/g, " "); applyFilter(); }
  }
  if (table) {
    Array.prototype.forEach.call(table.querySelectorAll("button.sort"), function (b) {
      b.addEventListener("click", function () { sortBy(b); });
    });
  }
  var select = document.getElementById("chart-select");
  if (select) {
    select.addEventListener("change", function () {
      Array.prototype.forEach.call(document.querySelectorAll(".charts.more figure"), function (f) {
        f.hidden = f.id !== select.value;
      });
    });
  }
  // a link to a cell (footnote back-link) shows the cell even when the filter hid its row
  window.addEventListener("hashchange", function () {
    var target = document.getElementById(location.hash.slice(1));
    if (target && target.closest && target.closest("tr[hidden]")) { filter.value = ""; applyFilter(); target.focus(); }
  });
})();
