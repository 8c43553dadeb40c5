/* Meter page: the daily consumption bar chart (ECharts, vendored; no network).
 * Data comes from the page itself: <script type="application/json" id="consumption-data">
 * {"days": ["2026-01-01", …], "kwh": ["12.345", null, …], "unit": "kWh", "name": "…"}
 * (one entry per day; null where the day has no consumption figure).
 * Without JavaScript the page still shows the summary line and the register table. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("consumption-chart");
    var source = document.getElementById("consumption-data");
    if (!holder || !source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var accent = getComputedStyle(document.documentElement).getPropertyValue("--gc-accent").trim() || "#00706b";
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 56, right: 16, top: 36, bottom: 56 },
      tooltip: {
        trigger: "axis",
        valueFormatter: function (value) { return value == null ? "—" : value + " " + data.unit; }
      },
      xAxis: { type: "category", data: data.days, axisLabel: { formatter: function (day) { return day.slice(5); } } },
      yAxis: { type: "value", name: data.unit },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
      series: [{
        name: data.name,
        type: "bar",
        itemStyle: { color: accent },
        data: data.kwh.map(function (value) { return value === null ? null : Number(value); })
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
