/* The dashboard's charts: drawn with the vendored Chart.js from the rows embedded beside each chart (the
   same rows as its table, CSV and JSON). Series differ by line dash, point shape and hatching, not by colour
   alone; every chart's table can be shown with its button (screen readers always have it). */
(function () {
  "use strict";
  var COLOURS = ["#1f5f99", "#b35900", "#2e7d32", "#6a1b9a", "#8d1c1c", "#37474f"];
  var DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [1, 1], [12, 6]];
  var POINTS = ["circle", "triangle", "rect", "rectRot", "star", "crossRot"];

  function hatch(colour) {
    var c = document.createElement("canvas");
    c.width = c.height = 8;
    var g = c.getContext("2d");
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    return g.createPattern(c, "repeat");
  }

  function bars(labels, series) {
    return {
      type: "bar",
      data: {
        labels: labels,
        datasets: series.map(function (s, i) {
          var colour = COLOURS[i % COLOURS.length];
          return {label: s.label, data: s.values, borderColor: colour, borderWidth: 2,
                  backgroundColor: i % 2 ? hatch(colour) : colour};
        })
      },
      options: {indexAxis: "y", responsive: true, maintainAspectRatio: false,
                plugins: {legend: {display: series.length > 1}}}
    };
  }

  function config(kind, rows) {
    if (kind === "line") {
      var buckets = [], keys = [], values = {};
      rows.forEach(function (r) {
        if (buckets.indexOf(r.bucket) < 0) buckets.push(r.bucket);
        var key = r.channel + " (" + r.currency + ")";
        if (keys.indexOf(key) < 0) keys.push(key);
        values[key + "|" + r.bucket] = parseFloat(r.net_sales);
      });
      return {
        type: "line",
        data: {
          labels: buckets,
          datasets: keys.map(function (key, i) {
            return {label: key + " — net sales", borderColor: COLOURS[i % COLOURS.length],
                    borderDash: DASHES[i % DASHES.length], pointStyle: POINTS[i % POINTS.length],
                    pointRadius: 4, backgroundColor: COLOURS[i % COLOURS.length],
                    data: buckets.map(function (b) { return values[key + "|" + b] || 0; })};
          })
        },
        options: {responsive: true, maintainAspectRatio: false,
                  plugins: {legend: {labels: {usePointStyle: true}}}}
      };
    }
    function label(r) {
      var name = r.product || r.category || r.label || r.reason || r.query || r.name || r.location;
      return r.currency ? name + " (" + r.currency + ")" : name;
    }
    var labels = rows.map(label);
    if (kind === "bar-stock") {
      return bars(labels, [
        {label: "Stock-outs", values: rows.map(function (r) { return r.stock_outs; })},
        {label: "Low stock (open alerts)", values: rows.map(function (r) { return r.low_stock; })}
      ]);
    }
    if (kind === "bar-recs") {
      // click-through per placement; impressions, clicks and attributed revenue are in the table
      return bars(labels, [
        {label: "Click-through (%)", values: rows.map(function (r) { return r.ctr_pct === null ? 0 : r.ctr_pct; })}
      ]);
    }
    var field = {"bar-revenue": "revenue", "bar-units": "units", "bar-orders": "orders",
                 "bar-searches": "searches"}[kind];
    return bars(labels, [{label: field, values: rows.map(function (r) { return parseFloat(r[field]); })}]);
  }

  if (typeof Chart !== "undefined") {
    Chart.defaults.animation = false; // figures appear at once (no motion; screenshots show the final bars)
  }

  document.querySelectorAll(".dash-chart").forEach(function (figure) {
    var toggle = figure.querySelector(".dash-toggle");
    var table = figure.querySelector(".dash-table");
    toggle.addEventListener("click", function () {
      var shown = toggle.getAttribute("aria-pressed") === "true";
      toggle.setAttribute("aria-pressed", shown ? "false" : "true");
      table.classList.toggle("visually-hidden", shown);
      // a shown table may scroll: keyboard users reach it; a hidden one is no tab stop
      if (shown) table.removeAttribute("tabindex"); else table.setAttribute("tabindex", "0");
      toggle.textContent = shown ? toggle.dataset.show || "Show the table" : toggle.dataset.hide || "Hide the table";
    });
    var canvas = figure.querySelector("canvas");
    var source = document.getElementById(figure.dataset.source);
    if (!canvas || !source || typeof Chart === "undefined") return;
    var rows = JSON.parse(source.textContent);
    figure.chart = new Chart(canvas, config(figure.dataset.kind, rows));
  });
})();
