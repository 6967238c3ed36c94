/* 工作台 charts: the departments' overview (bars: entries and published entries; line: on-time reply rate). */
(function () {
  if (!window.echarts) { return; }
  var box = document.getElementById('chart-departments');
  var source = document.getElementById('chart-data-departments');
  if (!box || !source) { return; }
  var data = JSON.parse(source.textContent);
  var chart = window.echarts.init(box);
  chart.setOption({
    tooltip: { trigger: 'axis' },
    legend: { data: ['目录', '已发布', '按时答复率'], top: 0, right: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: data.names, axisLabel: { interval: 0, rotate: data.names.length > 6 ? 30 : 0 } },
    yAxis: [{ type: 'value', minInterval: 1, name: '目录' }, { type: 'value', min: 0, max: 100, name: '%' }],
    series: [
      { name: '目录', type: 'bar', data: data.entries, itemStyle: { color: '#9db4d3' } },
      { name: '已发布', type: 'bar', data: data.published, itemStyle: { color: '#1d4f91' } },
      { name: '按时答复率', type: 'line', yAxisIndex: 1, data: data.on_time, itemStyle: { color: '#1b7a3a' } }
    ]
  });
  box.setAttribute('data-drawn', 'true');
  window.addEventListener('resize', function () { chart.resize(); });
})();
