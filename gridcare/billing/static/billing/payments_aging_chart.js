/* Arrears aging page: a stacked bar chart of outstanding money by days overdue (ECharts,
 * vendored). Data from <script type="application/json" id="aging-data">:
 * {"buckets": ["Not yet due", …], "series": [{"name": "…", "data": ["12.34", …]}, …]}.
 * Without JavaScript the table below shows the same figures. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("aging-chart");
    var source = document.getElementById("aging-data");
    if (!holder || !source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 72, right: 16, top: 40, bottom: 32 },
      legend: { type: "scroll", top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: data.buckets },
      yAxis: { type: "value", name: "¥" },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "total", data: s.data.map(Number) };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
