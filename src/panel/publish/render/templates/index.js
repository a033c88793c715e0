// Sort and filter the tool table in place. Our own code, inlined and allowed by its hash.
(function () {
  var body = document.querySelector("#tools tbody");
  var rows = Array.prototype.slice.call(body.rows);
  var category = document.getElementById("category");
  var sort = document.getElementById("sort");
  var links = document.querySelectorAll("#comparisons li");
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
  }
  category.addEventListener("change", apply);
  sort.addEventListener("change", apply);
})();
