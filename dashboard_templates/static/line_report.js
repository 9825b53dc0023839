// The picture of the line's charts, drawn with uPlot from the numbers the page
// carries in data-chart (the same numbers are in the tables beside them).
// A file, not inline, so the Content-Security-Policy allows it.
(function () {
  var report = document.getElementById("report");
  if (!report || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(report.dataset.chart);
  var ink = "#1d2330", warn = "#b3261e", muted = "#5f6b7a";
  var bars = uPlot.paths.bars({size: [0.6, 60]});

  function width(el) { return Math.max(el.clientWidth, 260); }

  function lineChart(el, d) {
    var opts = {
      width: width(el), height: 220, tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), d.zone); },
      legend: {show: true}, cursor: {drag: {x: false, y: false}},
      scales: {x: {time: true, range: function () { return [d.x[0] - 43200, d.x[d.x.length - 1] + 43200]; }}, n: {range: function (u, lo, hi) { return [0, Math.max(hi, 1)]; }},
               m: {range: function (u, lo, hi) { return [0, Math.max(hi || 0, 1)]; }}},
      axes: [{stroke: muted, values: "{DD} {MMM}", incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400]}, {scale: "n", stroke: ink, label: "opened"},
             {scale: "m", side: 1, stroke: warn, label: "min to ACK", grid: {show: false}}],
      series: [{}, {label: "opened", scale: "n", stroke: ink, fill: "rgba(29,35,48,.25)", paths: bars, points: {show: false}},
               {label: "median min to ACK", scale: "m", stroke: warn, width: 2, spanGaps: false}]
    };
    return new uPlot(opts, [d.x, d.opened, d.ack_minutes], el);
  }

  function responderChart(el, d) {
    var xs = d.names.map(function (_, i) { return i; });
    var opts = {
      width: width(el), height: 220, legend: {show: true}, cursor: {drag: {x: false, y: false}},
      scales: {x: {time: false, range: [-0.5, Math.max(xs.length - 0.5, 0.5)]},
               y: {range: function (u, lo, hi) { return [0, Math.max(hi, 1)]; }}},
      axes: [{stroke: muted, splits: function () { return xs; },
              values: function (u, splits) { return splits.map(function (i) { return d.names[i] || ""; }); }},
             {stroke: ink}],
      series: [{}, {label: "pages", stroke: muted, fill: "rgba(95,107,122,.35)", paths: uPlot.paths.bars({size: [0.35, 40], align: -1}), points: {show: false}},
               {label: "taken", stroke: ink, fill: "rgba(29,35,48,.7)", paths: uPlot.paths.bars({size: [0.35, 40], align: 1}), points: {show: false}}]
    };
    return new uPlot(opts, [xs, d.pages, d.taken], el);
  }

  var charts = [];
  Array.prototype.forEach.call(document.querySelectorAll(".chart[data-line]"), function (el) {
    var d = data.lines[el.dataset.line];
    if (d) { charts.push([el, lineChart(el, d)]); }
  });
  var rEl = document.querySelector(".chart[data-responders]");
  if (rEl && data.responders.names.length) { charts.push([rEl, responderChart(rEl, data.responders)]); }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c[1].setSize({width: width(c[0]), height: 220}); });
  });
  report.classList.add("charted");
})();
