// The Consumption tab's four daily charts, drawn with the vendored Chart.js from the page's
// <script type="application/json" id="consumption-data"> block (no inline script: CSP 'self').
// Without JavaScript the "Show data" tables under each canvas carry the same values.
(function () {
  "use strict";

  function compact(value) {
    // Like the portal's `compact` filter: 1600 -> "1.6k", 2500000 -> "2.5M", 950 -> "950".
    var sizes = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < sizes.length; i++) {
      if (Math.abs(value) >= sizes[i][0]) {
        return (value / sizes[i][0]).toFixed(1).replace(/\.0$/, "") + sizes[i][1];
      }
    }
    return Number.isInteger(value) ? value.toLocaleString("en-US") : String(Math.round(value * 100) / 100);
  }

  function exact(value) {
    return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  var SERIES = {
    genai_units: { label: "GenAI units", color: "--accent", fallback: "#264ae5" },
    input_tokens: { label: "Input tokens", color: "--chart-input", fallback: "#0e7490" },
    output_tokens: { label: "Output tokens", color: "--chart-output", fallback: "#7c3aed" },
    api_calls: { label: "API calls", color: "--chart-calls", fallback: "#b45309" },
  };

  function draw(canvas, data) {
    var key = canvas.getAttribute("data-chart");
    var spec = SERIES[key];
    if (!spec || !data[key]) return;
    var color = cssVar(spec.color, spec.fallback);
    var datasets = [{
      type: "bar",
      label: spec.label,
      data: data[key],
      backgroundColor: color,
      borderRadius: 2,
      maxBarThickness: 28,
      pointStyle: "rect",
      order: 2,
    }];
    // The allocation line on every range (future days of the bundle month included), never clipped
    // by the chart's top edge: the axis always reaches a little above it.
    if (key === "genai_units" && data.allocation > 0) {
      datasets.push({
        type: "line",
        label: "Allocation per bundle month",
        data: data.labels.map(function () { return data.allocation; }),
        borderColor: cssVar("--bad", "#b42318"),
        borderWidth: 1.5,
        borderDash: [6, 4],
        pointRadius: 0,
        pointHoverRadius: 0,
        pointStyle: "line",
        clip: false,
        fill: false,
        order: 1,
      });
    }
    var ink = cssVar("--muted", "#5b6578");
    var grid = cssVar("--line", "#dde2ea");
    return new window.Chart(canvas, {
      data: { labels: data.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { color: ink, usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: function (item) {
                if (item.parsed.y === null) return item.dataset.label + ": not yet";
                return item.dataset.label + ": " + exact(item.parsed.y);
              },
            },
          },
        },
        scales: {
          x: {
            ticks: {
              color: ink, maxRotation: 0, autoSkip: true, maxTicksLimit: 6,
              // "June 25, 2026" without its year on the axis; the tooltip shows the whole date.
              callback: function (value) { return String(this.getLabelForValue(value)).replace(/, \d{4}$/, ""); },
            },
            grid: { display: false },
          },
          y: {
            beginAtZero: true,
            suggestedMax: key === "genai_units" ? (data.allocation > 0 ? data.allocation * 1.1 : undefined) : 1,
            ticks: { color: ink, precision: key === "genai_units" ? undefined : 0, callback: compact },
            grid: { color: grid },
          },
        },
      },
    });
  }

  function start() {
    var block = document.getElementById("consumption-data");
    if (!block) return;
    if (typeof window.Chart !== "function") return;  // the data tables still show the values
    var data = JSON.parse(block.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) { draw(canvas, data); });
    document.documentElement.setAttribute("data-charts-ready", "");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
