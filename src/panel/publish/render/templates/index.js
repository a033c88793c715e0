// Sort and filter the tool table in place. Our own code, inlined and allowed by its hash.
// The index is split into pages; the site index (inline JSON, so the page also works opened
// from disk) says on which other pages a category has tools, and the choice travels to
// them in the link's #category=…&sort=… fragment.
(function () {
  var table = document.getElementById("tools");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var category = document.getElementById("category");
  var sort = document.getElementById("sort");
  var links = document.querySelectorAll("#comparisons li");
  var elsewhere = document.getElementById("elsewhere");
  var pager = document.querySelectorAll("#pager a");
  var site = JSON.parse(document.getElementById("site-index").textContent);
  var page = parseInt(table.dataset.page, 10);
  function state() {
    var q = new URLSearchParams();
    if (category.value) q.set("category", category.value);
    if (sort.value !== "ship-desc") q.set("sort", sort.value);
    var s = q.toString();
    return s ? "#" + s : "";
  }
  function others(c) {
    // The other pages holding category c, as links keeping the current choice.
    elsewhere.textContent = "";
    var on = c === "" ? [] : (site.categories[c] || []).filter(function (p) {
      return p[0] !== page;
    });
    elsewhere.hidden = on.length === 0;
    if (elsewhere.hidden) return;
    elsewhere.appendChild(document.createTextNode(c + " also on page "));
    on.forEach(function (p, i) {
      var a = document.createElement("a");
      a.href = site.pages[p[0] - 1] + state();
      a.textContent = p[0] + " (" + p[1] + (p[1] === 1 ? " tool)" : " tools)");
      if (i) elsewhere.appendChild(document.createTextNode(", "));
      elsewhere.appendChild(a);
    });
  }
  function apply() {
    var c = category.value, how = sort.value;
    rows.sort(function (x, y) {
      if (how === "name-asc") return x.dataset.name.localeCompare(y.dataset.name);
      var d = parseFloat(x.dataset.ship) - parseFloat(y.dataset.ship);
      return how === "ship-asc" ? d : -d;
    });
    rows.forEach(function (r) {
      r.hidden = c !== "" && r.dataset.category !== c;
      body.appendChild(r);
    });
    Array.prototype.forEach.call(links, function (li) {
      li.hidden = c !== "" && li.dataset.category !== c;
    });
    if (elsewhere) others(c);
    Array.prototype.forEach.call(pager, function (a) {
      a.href = a.getAttribute("href").split("#")[0] + state();
    });
  }
  function restore() {
    // A choice made on another page arrives in the fragment; unknown values are ignored.
    var q = new URLSearchParams(location.hash.slice(1));
    var c = q.get("category"), how = q.get("sort");
    if (c !== null && Object.prototype.hasOwnProperty.call(site.categories, c)) category.value = c;
    if (["ship-desc", "ship-asc", "name-asc"].indexOf(how) >= 0) sort.value = how;
  }
  category.addEventListener("change", apply);
  sort.addEventListener("change", apply);
  restore();
  if (location.hash) apply();
})();
