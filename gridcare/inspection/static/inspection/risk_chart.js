/* Theft risk explanation: the account's daily consumption (bars) over the scored window, the
 * median day of the customers of the same class (line) and the suspicious window (shaded
 * band, markArea). ECharts is vendored (no network). Data comes from the page:
 * <script type="application/json" id="risk-chart-data">
 * {"days": ["2026-01-01", …], "kwh": [12.3, null, …], "peer_median": [9.8, …],
 *  "window": ["2026-05-01", "2026-07-31"] | null, "unit": "kWh", "name": "…", "peer_name": "…"}
 * Without JavaScript the page still shows the summary line and the reasons table. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("risk-chart");
    var source = document.getElementById("risk-chart-data");
    if (!holder || !source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var css = getComputedStyle(document.documentElement);
    var accent = css.getPropertyValue("--gc-accent").trim() || "#00706b";
    var danger = css.getPropertyValue("--gc-danger").trim() || "#b3261e";
    var own = {
      name: data.name,
      type: "bar",
      itemStyle: { color: accent },
      data: data.kwh
    };
    if (data.window) {
      own.markArea = {
        silent: true,
        itemStyle: { color: danger, opacity: 0.12 },
        label: { show: true, position: "insideTop", color: danger },
        data: [[{ name: data.window_label || "", xAxis: data.window[0] }, { xAxis: data.window[1] }]]
      };
    }
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 56, right: 16, top: 40, bottom: 56 },
      legend: { top: 4 },
      tooltip: {
        trigger: "axis",
        valueFormatter: function (value) { return value == null ? "—" : value + " " + data.unit; }
      },
      xAxis: { type: "category", data: data.days, axisLabel: { formatter: function (day) { return day.slice(5); } } },
      yAxis: { type: "value", name: data.unit },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
      series: [
        own,
        {
          name: data.peer_name,
          type: "line",
          showSymbol: false,
          connectNulls: true,
          lineStyle: { color: "#6b7780", width: 1.5 },
          itemStyle: { color: "#6b7780" },
          data: data.peer_median
        }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
