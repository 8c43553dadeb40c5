/* Supervisor board: open orders by team, stacked by deadline status (ECharts, vendored).
 * Data from <script type="application/json" id="board-data">:
 * {"teams": [...], "ok": [...], "paused": [...], "warned": [...], "breached": [...], "names": {...}}.
 * Without JavaScript the "By team" table shows the same figures. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("board-chart");
    var source = document.getElementById("board-data");
    if (!holder || !source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var colours = { ok: "#2e7d32", paused: "#8a949c", warned: "#e6a100", breached: "#c62828" };
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 16, top: 40, bottom: 48 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: data.teams, axisLabel: { interval: 0, rotate: data.teams.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: ["ok", "paused", "warned", "breached"].map(function (key) {
        return { name: data.names[key], type: "bar", stack: "open", itemStyle: { color: colours[key] }, data: data[key] };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
