/* Line-loss pages (台区线损), ECharts vendored (no network). Two charts, each drawn when its
 * holder and data are on the page:
 *
 * - dashboard: <script id="lineloss-chart-data"> {"codes": […], "names": […], "rates": [3.1, null, …],
 *   "flagged": [true, …], "threshold": 8.0, "name": "…", "threshold_label": "…", "unit": "%"}
 *   one bar per area of the recent loss rate, flagged bars red, the threshold as a dashed markLine;
 *   a click on a bar opens the area ("ids" and "area_url" with 0 in place of the id);
 * - area: <script id="lineloss-area-data"> {"days": […], "input": […], "billed": […], "rate": [… | null],
 *   "complete": [true, false, …], "threshold": 8.0, "unit": "kWh", "names": {…}}
 *   bars of daily input and customers' energy, the loss rate as a line on the right axis with the
 *   threshold markLine, incomplete days shaded (markArea). */
(function () {
  "use strict";

  function color(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }

  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function dashboard(holder, data) {
    var danger = color("--gc-danger", "#b3261e");
    var accent = color("--gc-accent", "#00706b");
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 56, right: 24, top: 36, bottom: 72 },
      tooltip: {
        trigger: "axis",
        formatter: function (items) {
          var i = items[0].dataIndex;
          var rate = data.rates[i] == null ? "—" : data.rates[i] + " " + data.unit;
          return data.codes[i] + " " + data.names[i] + "<br>" + data.name + ": " + rate;
        }
      },
      xAxis: { type: "category", data: data.codes, axisLabel: { rotate: 45 } },
      yAxis: { type: "value", name: data.unit },
      series: [{
        name: data.name,
        type: "bar",
        data: data.rates.map(function (rate, i) {
          return { value: rate, itemStyle: { color: data.flagged[i] ? danger : accent } };
        }),
        markLine: {
          silent: true,
          symbol: "none",
          lineStyle: { type: "dashed", color: danger },
          label: { position: "insideEndTop", formatter: data.threshold_label + " " + data.threshold + " " + data.unit },
          data: [{ yAxis: data.threshold }]
        }
      }]
    });
    chart.on("click", function (params) {
      var id = data.ids && data.ids[params.dataIndex];
      if (id && data.area_url) {
        window.location.href = data.area_url.replace("/0/", "/" + id + "/");
      }
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function area(holder, data) {
    var danger = color("--gc-danger", "#b3261e");
    var accent = color("--gc-accent", "#00706b");
    var names = data.names || {};
    var incomplete = [];
    data.complete.forEach(function (ok, i) {
      if (!ok) {
        incomplete.push([{ xAxis: data.days[i] }, { xAxis: data.days[i] }]);
      }
    });
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 64, right: 64, top: 40, bottom: 56 },
      legend: { top: 4 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.days, axisLabel: { formatter: function (day) { return day.slice(5); } } },
      yAxis: [
        { type: "value", name: data.unit },
        { type: "value", name: "%", splitLine: { show: false } }
      ],
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
      series: [
        {
          name: names.input,
          type: "bar",
          itemStyle: { color: "#8fb8d8" },
          data: data.input,
          markArea: {
            silent: true,
            itemStyle: { color: "#9aa5ad", opacity: 0.25 },
            label: { show: false },
            data: incomplete
          }
        },
        {
          name: names.billed,
          type: "bar",
          itemStyle: { color: accent },
          data: data.billed,
          // the change point of the loss series: the first day of the "recent" part
          markLine: data.change_day ? {
            silent: true,
            symbol: "none",
            lineStyle: { type: "solid", color: "#5f6b73", width: 1 },
            label: { position: "insideEndTop", formatter: names.change + " " + data.change_day.slice(5) },
            data: [{ xAxis: data.change_day }]
          } : undefined
        },
        {
          name: names.rate,
          type: "line",
          yAxisIndex: 1,
          connectNulls: false,
          showSymbol: true,
          symbolSize: 4,
          itemStyle: { color: danger },
          lineStyle: { color: danger },
          data: data.rate,
          markLine: {
            silent: true,
            symbol: "none",
            lineStyle: { type: "dashed", color: danger },
            label: { position: "insideEndTop", formatter: names.threshold + " " + data.threshold + " %" },
            data: [{ yAxis: data.threshold }]
          }
        }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof echarts === "undefined") {
      return;
    }
    var holder = document.getElementById("lineloss-chart");
    var data = read("lineloss-chart-data");
    if (holder && data) {
      dashboard(holder, data);
    }
    holder = document.getElementById("lineloss-area-chart");
    data = read("lineloss-area-data");
    if (holder && data) {
      area(holder, data);
    }
  });
})();
