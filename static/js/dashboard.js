/* Quorum project page: draws the dashboard charts with Chart.js from the JSON the page carries
 * (the data-charts attribute of #dashboard-data, autoescaped JSON), and sorts the
 * annotator table when a heading is clicked.
 *
 * Loaded with `defer` after vendor/chartjs/chart.umd.min.js under a strict Content-Security-Policy:
 * no inline script or style; Chart.js sizes its canvases through the CSSOM, which the policy allows.
 * Every label comes from the JSON and reaches the canvas as text, never as HTML.
 */
(function () {
  "use strict";

  var COLORS = {
    accent: "#1f5fa8",
    plan: "#8a94a3",
    ok: "#1e6b3a",
    warning: "#b36b00",
    danger: "#a32020",
    soft: "rgba(31, 95, 168, 0.15)",
  };

  function data() {
    var node = document.getElementById("dashboard-data");
    if (!node || !node.dataset.charts) {
      return null;
    }
    try {
      return JSON.parse(node.dataset.charts);
    } catch (error) {
      return null;
    }
  }

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart === "undefined") {
      return null;
    }
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false } },
      config.options || {}
    );
    return new window.Chart(canvas, config);
  }

  function horizontal(value, label, color) {
    // A flat reference line (a bar, a deadline) as its own dataset: no plugin needed.
    return { label: label, data: value, borderColor: color, borderDash: [6, 4], pointRadius: 0, fill: false };
  }

  function burnup(figures) {
    var days = figures.days;
    var datasets = [
      {
        label: "Items completed",
        data: figures.completed,
        borderColor: COLORS.accent,
        backgroundColor: COLORS.soft,
        fill: true,
        // A young project has a day or two of history: show the points, or nothing would show.
        pointRadius: figures.completed.length < 3 ? 4 : 0,
      },
    ];
    if (figures.plan.length) {
      datasets.push(horizontal(figures.plan, "Plan to the deadline", COLORS.plan));
    }
    if (figures.total) {
      datasets.push(horizontal(days.map(function () { return figures.total; }), "Items in the project", COLORS.ok));
    }
    return chart("chart-burnup", {
      type: "line",
      data: { labels: days, datasets: datasets },
      options: { scales: { y: { beginAtZero: true } } },
    });
  }

  function throughput(figures) {
    return chart("chart-throughput", {
      type: "bar",
      data: {
        labels: figures.days,
        datasets: [{ label: "Annotations", data: figures.annotations, backgroundColor: COLORS.accent }],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
  }

  function quality(figures) {
    var datasets = [
      { label: "Alpha", data: figures.alpha, borderColor: COLORS.accent, spanGaps: true },
      { label: "Gold accuracy", data: figures.gold, borderColor: COLORS.ok, spanGaps: true },
    ];
    if (figures.min_alpha !== null) {
      datasets.push(horizontal(figures.days.map(function () { return figures.min_alpha; }), "Alpha bar", COLORS.warning));
    }
    if (figures.min_gold_accuracy !== null) {
      datasets.push(
        horizontal(figures.days.map(function () { return figures.min_gold_accuracy; }), "Gold bar", COLORS.danger)
      );
    }
    return chart("chart-quality", {
      type: "line",
      data: { labels: figures.days, datasets: datasets },
      options: { scales: { y: { min: 0, max: 1 } } },
    });
  }

  function labels(figures) {
    return chart("chart-labels", {
      type: "bar",
      data: {
        labels: figures.labels,
        datasets: [
          { label: "Answers (%)", data: figures.done, backgroundColor: COLORS.accent },
          { label: "Requested (%)", data: figures.requested, backgroundColor: COLORS.plan },
        ],
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "% of the total" } } } },
    });
  }

  var DAY = 86400000;

  function dayNumber(iso) {
    return Math.round(Date.parse(iso + "T00:00:00Z") / DAY);
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function shortDay(number) {
    var date = new Date(Math.round(number) * DAY);
    return date.getUTCDate() + " " + MONTHS[date.getUTCMonth()];
  }

  function milestones(items, today) {
    if (!items.length) {
      return null;
    }
    var now = dayNumber(today);
    var days = [now];
    items.forEach(function (item) {
      days.push(dayNumber(item.planned));
      if (item.actual) {
        days.push(dayNumber(item.actual));
      }
    });
    var first = Math.min.apply(null, days) - 3;
    var last = Math.max.apply(null, days) + 3;
    return chart("chart-milestones", {
      type: "bar",
      data: {
        labels: items.map(function (item) { return item.name; }),
        datasets: [
          {
            // From the planned day to the day it was reached (or to today while it is open).
            label: "Planned → reached",
            data: items.map(function (item) {
              var planned = dayNumber(item.planned);
              var end = item.actual ? dayNumber(item.actual) : Math.max(now, planned);
              return [Math.min(planned, end), Math.max(planned, end) + 0.5];
            }),
            backgroundColor: items.map(function (item) {
              if (!item.actual) {
                return COLORS.soft;
              }
              return dayNumber(item.actual) > dayNumber(item.planned) ? COLORS.danger : COLORS.ok;
            }),
            borderColor: COLORS.accent,
            borderWidth: 1,
            borderSkipped: false,
          },
        ],
      },
      options: {
        indexAxis: "y",
        scales: {
          x: {
            type: "linear",
            min: first,
            max: last,
            // Short dates, whole days, and only as many as fit side by side (long ISO dates overlapped).
            ticks: {
              stepSize: Math.max(1, Math.round((last - first) / 6)),
              maxTicksLimit: 7,
              autoSkip: true,
              autoSkipPadding: 12,
              maxRotation: 0,
              precision: 0,
              callback: function (value) { return shortDay(value); },
            },
          },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (context) {
                var item = items[context.dataIndex];
                return "planned " + item.planned + (item.actual ? ", reached " + item.actual : ", not reached yet");
              },
            },
          },
        },
      },
    });
  }

  function sortable(table) {
    var headings = table.querySelectorAll("thead th");
    headings.forEach(function (heading, column) {
      heading.tabIndex = 0;
      heading.setAttribute("aria-sort", "none");
      function sort() {
        var ascending = heading.getAttribute("aria-sort") !== "ascending";
        var numeric = heading.dataset.sort === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value !== undefined ? a.cells[column].dataset.value : a.cells[column].textContent.trim();
          var y = b.cells[column].dataset.value !== undefined ? b.cells[column].dataset.value : b.cells[column].textContent.trim();
          var result;
          if (numeric) {
            // Empty values (no figure yet) sort last either way.
            if (x === "" || y === "") {
              return (x === "") - (y === "");
            }
            result = parseFloat(x) - parseFloat(y);
          } else {
            result = x.localeCompare(y);
          }
          return ascending ? result : -result;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        headings.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      }
      heading.addEventListener("click", sort);
      heading.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sort();
        }
      });
    });
  }

  var figures = data();
  if (figures) {
    window.quorumCharts = {
      burnup: burnup(figures.burnup),
      throughput: throughput(figures.throughput),
      quality: quality(figures.quality),
      labels: labels(figures.labels),
      milestones: milestones(figures.milestones, figures.today),
    };
  }
  document.querySelectorAll("table[data-sortable]").forEach(sortable);
})();
