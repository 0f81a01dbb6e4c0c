// The search box: matched in the page against search-index.js (no request per keystroke).
(function () {
  var input = document.getElementById("search"), list = document.getElementById("results");
  var base = document.body.getAttribute("data-base") || "";
  var index = (window.PINGPIPE_INDEX || []).map(function (e) {
    return { e: e, name: e.name.toLowerCase(), text: (e.name + " " + e.text).toLowerCase() };
  });
  var order = { app: 0, ping: 1, metric: 2, table: 3 };
  function show(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    list.innerHTML = "";
    if (!words.length) { list.hidden = true; return; }
    var hits = index.filter(function (x) {
      return words.every(function (w) { return x.text.indexOf(w) >= 0; });
    }).map(function (x) {
      var score = (x.name === words.join(" ") ? 0 : x.name.indexOf(words[0]) === 0 ? 1 : x.name.indexOf(words[0]) >= 0 ? 2 : 3);
      return { x: x, score: score * 10 + order[x.e.kind] };
    }).sort(function (a, b) { return a.score - b.score || a.x.name.localeCompare(b.x.name); }).slice(0, 30);
    hits.forEach(function (h, i) {
      var li = document.createElement("li"), a = document.createElement("a"), kind = document.createElement("span");
      a.href = base + h.x.e.url;
      kind.className = "kind"; kind.textContent = h.x.e.kind;
      a.appendChild(kind); a.appendChild(document.createTextNode(h.x.e.name));
      if (i === 0) a.className = "active";
      li.appendChild(a); list.appendChild(li);
    });
    if (!hits.length) {
      var li = document.createElement("li"); li.className = "muted"; li.style.padding = "0.35rem 0.6rem";
      li.textContent = "nothing matches"; list.appendChild(li);
    }
    list.hidden = false;
  }
  input.addEventListener("input", function () { show(input.value); });
  input.addEventListener("keydown", function (ev) {
    var links = list.querySelectorAll("a"), i = Array.prototype.findIndex.call(links, function (a) { return a.className === "active"; });
    if (ev.key === "Enter" && i >= 0) { window.location.href = links[i].href; ev.preventDefault(); }
    else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && links.length) {
      if (i >= 0) links[i].className = "";
      i = (i + (ev.key === "ArrowDown" ? 1 : links.length - 1)) % links.length;
      links[i].className = "active"; ev.preventDefault();
    } else if (ev.key === "Escape") { list.hidden = true; }
  });
  document.addEventListener("click", function (ev) { if (!ev.target.closest(".search")) list.hidden = true; });
})();
