/* Customer 360: the last 12 months' bills as a bar chart of kWh and amount (ECharts,
 * vendored). Data from <script type="application/json" id="bills-chart-data">
 * {"periods": ["2026-01", …], "kwh": ["123.000", …], "amount": ["64.00", …],
 *  "kwh_name": "…", "amount_name": "…"}. Without JavaScript the table below still shows all. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("bills-chart");
    var source = document.getElementById("bills-chart-data");
    if (!holder || !source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var accent = getComputedStyle(document.documentElement).getPropertyValue("--gc-accent").trim() || "#00706b";
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 56, right: 56, top: 40, bottom: 32 },
      legend: { top: 4 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.periods },
      yAxis: [{ type: "value", name: "kWh" }, { type: "value", name: "¥" }],
      series: [
        { name: data.kwh_name, type: "bar", itemStyle: { color: accent }, data: data.kwh.map(Number) },
        { name: data.amount_name, type: "bar", yAxisIndex: 1, itemStyle: { color: "#c98a00" }, data: data.amount.map(Number) }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
