/* Sika console: the dashboard's charts and a campaign's burn (uPlot), the rides map (Leaflet over the
   city's GeoJSON, no remote tiles, refreshed by polling), and forms that ask before they submit. Loaded on every page; each part runs only where its
   element is. No inline script: the page's data comes in <script type="application/json"> blocks. */
(function () {
  "use strict";

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function compact(n) {
    if (Math.abs(n) >= 1e6) return (n / 1e6).toLocaleString() + " M";
    if (Math.abs(n) >= 1e3) return (n / 1e3).toLocaleString() + " k";
    return n.toLocaleString();
  }

  function charts() {
    var series = data("series");
    if (!series || typeof uPlot === "undefined") return;
    document.querySelectorAll("[data-series]").forEach(function (el) {
      var width = Math.max(280, el.clientWidth);
      var opts, rows;
      if (el.dataset.series === "money") {
        rows = [series.t, series["in"], series.out];
        opts = { width: width, height: 220, series: [{}, { label: el.dataset.labelIn, stroke: "#0b6e4f", width: 2, fill: "rgba(11,110,79,.08)" },
          { label: el.dataset.labelOut, stroke: "#b3261e", width: 2 }] };
      } else {
        rows = [series.t, series.messages];
        opts = { width: width, height: 220, series: [{}, { label: el.dataset.labelMessages, stroke: "#2563eb", width: 2, fill: "rgba(37,99,235,.08)" }] };
      }
      opts.axes = [{}, { size: 60, values: function (u, ticks) { return ticks.map(compact); } }];
      new uPlot(opts, rows, el);
    });
  }

  function burn() {
    var el = document.getElementById("chart-burn"), series = data("burn");
    if (!el || !series || typeof uPlot === "undefined") return;
    if (!series.t.length) { el.textContent = el.dataset.empty || ""; return; }
    var opts = { width: Math.max(280, el.clientWidth), height: 220,
      series: [{}, { label: el.dataset.labelSpent, stroke: "#b3261e", width: 2, fill: "rgba(179,38,30,.08)" },
        { label: el.dataset.labelBudget, stroke: "#0b6e4f", width: 2, dash: [6, 4] }] };
    opts.axes = [{}, { size: 60, values: function (u, ticks) { return ticks.map(compact); } }];
    new uPlot(opts, [series.t, series.spent, series.budget], el);
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
    });
  }

  function map() {
    var el = document.getElementById("map");
    if (!el || typeof L === "undefined") return;
    var m = L.map(el, { zoomControl: true, attributionControl: false, zoomSnap: 0.25 });
    m.fitBounds(JSON.parse(el.dataset.bounds));
    if (el.dataset.geo) {
      fetch(el.dataset.geo, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (geo) {
        var base = L.geoJSON(geo, {
          style: function (f) {
            var k = f.properties.kind;
            if (k === "outline") return { color: "#7a8793", weight: 1, fillColor: "#f4f1ea", fillOpacity: 1 };
            if (k === "water") return { color: "#7fb2d9", weight: 1, fillColor: "#a9cdea", fillOpacity: 1 };
            if (k === "coast") return { color: "#5c8fb8", weight: 2 };
            if (k === "border") return { color: "#8c6d9e", weight: 2, dashArray: "6 4" };
            return { color: "#c9a45c", weight: 4 };
          },
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, { radius: 2, color: "#44525f" }).bindTooltip(esc(f.properties.name), { permanent: true, direction: "right", className: "place-label" });
          },
          onEachFeature: function (f, layer) { if (f.properties.kind === "road") layer.bindTooltip(esc(f.properties.name)); }
        }).addTo(m);
        m.fitBounds(base.getBounds(), { padding: [8, 8] });
        layers.bringToFront();
      });
    }
    var layers = L.featureGroup().addTo(m);
    function draw(live) {
      layers.clearLayers();
      live.trips.forEach(function (t) {
        L.polyline([t.pickup, t.dropoff], { color: "#d97706", weight: 3, dashArray: "6 6", className: "trip-line" }).addTo(layers)
          .bindPopup('<a href="' + esc(el.dataset.tripUrl + encodeURIComponent(t.id)) + '">' + esc(el.dataset.labelTrip + " " + t.id) + "</a> · " + esc(t.status));
        L.circleMarker(t.pickup, { radius: 6, color: "#fff", weight: 2, fillColor: "#2563eb", fillOpacity: 1 }).addTo(layers);
      });
      live.drivers.forEach(function (d) {
        var fill = !d.online ? "#9aa5b1" : (d.busy ? "#d97706" : "#0b6e4f");
        var marker = L.circleMarker([d.lat, d.lng], { radius: 8, color: "#fff", weight: 2, fillColor: fill, fillOpacity: 1, className: "driver-marker" });
        marker.bindTooltip(esc(el.dataset.labelDriver + " " + d.name + " · " + d.plate)).addTo(layers);
      });
      el.dataset.drivers = String(live.drivers.length);
    }
    draw(data("live"));
    setInterval(function () {
      fetch(el.dataset.live, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (live) { if (live) draw(live); })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    }, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () { charts(); burn(); confirmations(); map(); });
})();
