// The debug pages follow new pings: the page is fetched again each second and the watched part
// replaced when it changed (details a reader opened stay open).
(function () {
  var script = document.currentScript, id = script.getAttribute("data-watch");
  var last = document.getElementById(id).innerHTML;
  setInterval(function () {
    fetch(window.location.href, { cache: "no-store" }).then(function (r) { return r.text(); }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
      if (!fresh || fresh.innerHTML === last) return;
      var open = Array.prototype.map.call(document.querySelectorAll("#" + id + " details[open]"), function (d) {
        return d.parentNode.querySelector(".muted") && d.parentNode.querySelector(".muted").textContent;
      });
      last = fresh.innerHTML;
      document.getElementById(id).innerHTML = last;
      document.querySelectorAll("#" + id + " details").forEach(function (d) {
        var key = d.parentNode.querySelector(".muted");
        if (key && open.indexOf(key.textContent) >= 0) d.open = true;
      });
    }).catch(function () {});
  }, 1000);
})();
