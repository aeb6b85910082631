// faultline's report: draws the charts from the page's JSON with uPlot.
// Every chart's x axis is milliseconds since exec; zooming one zooms all.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("fl-data").textContent);
  var W = Math.max(900, Math.min(1800, document.documentElement.clientWidth - 56));
  var charts = [];
  var syncing = false;
  var tip = document.getElementById("fl-tip");

  function syncX(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    var min = u.scales.x.min, max = u.scales.x.max;
    charts.forEach(function (c) { if (c !== u) c.setScale("x", { min: min, max: max }); });
    syncing = false;
  }
  function fmtMs(u, v) { return v == null ? "-" : (+v).toFixed(3) + " ms"; }
  function fmtPages(u, v) { return v == null ? "-" : v + " pages (" + (v * 4) + " KiB)"; }
  // Every chart's y axis takes as much room, so their times line up.
  var AXIS = 230;
  var stepped = uPlot.paths.stepped({ align: 1 });
  var xAxis = { label: "time since exec (ms)", labelSize: 20, size: 40 };
  function pageAxis(label) {
    return { label: label, labelSize: 20, size: AXIS, values: function (u, vals) { return vals.map(function (v) { return v + ""; }); } };
  }
  function base(height, extra) {
    var o = {
      width: W, height: height,
      scales: { x: { time: false, range: function () { return [0, D.end]; } } },
      cursor: { sync: { key: "fl" }, drag: { x: true, y: false } },
      hooks: { setScale: [syncX] },
    };
    for (var k in extra) o[k] = extra[k];
    return o;
  }
  function mount(id) { return document.getElementById(id); }

  // The sandbox: resident pages, swap in use, and the limit.
  (function () {
    var s = D.sandbox;
    var t = s.t.slice(), rss = s.rss.slice(), swap = [];
    // Swap on resident's times (both step lines: the value in force).
    var j = 0, cur = 0;
    for (var i = 0; i < t.length; i++) {
      while (j < s.wt.length && s.wt[j] <= t[i]) { cur = s.swap[j]; j++; }
      swap.push(cur);
    }
    if (t.length === 0) { t = [0, D.end]; rss = [0, 0]; swap = [0, 0]; }
    if (t[t.length - 1] < D.end) { t.push(D.end); rss.push(rss[rss.length - 1]); swap.push(swap[swap.length - 1]); }
    var series = [
      { label: "time", value: fmtMs },
      { label: "sandbox resident", stroke: "#222", width: 2, paths: stepped, value: fmtPages },
      { label: "swap in use", stroke: "#8e44ad", width: 2, dash: [6, 3], paths: stepped, value: fmtPages },
    ];
    var data = [t, rss, swap];
    var peak = Math.max.apply(null, rss.concat(swap, [1]));
    // A limit far above what was used would flatten the lines: it is
    // then named in the note instead.
    if (D.limit != null && D.limit > 4 * peak) {
      var n = document.createElement("p");
      n.className = "note";
      n.textContent = "The RSS limit, " + D.limit + " pages (" + D.limit * 4 + " KiB), is far above this (" + peak + " pages at most).";
      mount("fl-sandbox").appendChild(n);
    } else if (D.limit != null) {
      series.push({ label: "RSS limit", stroke: "#c0392b", width: 1.5, dash: [3, 4], value: fmtPages });
      data.push(t.map(function () { return D.limit; }));
    }
    if (D.swapTotal != null && D.swapTotal <= 4 * peak) {
      series.push({ label: "swap size", stroke: "#c39bd3", width: 1, dash: [1, 3], value: fmtPages });
      data.push(t.map(function () { return D.swapTotal; }));
    }
    charts.push(new uPlot(base(280, { series: series, axes: [xAxis, pageAxis("pages")] }), data, mount("fl-sandbox")));
  })();

  // One lane per process: its resident line, its fork, exec and exit.
  var MARK = { fork: "#2e86c1", exec: "#27ae60", exit: "#c0392b" };
  D.lanes.forEach(function (l) {
    var el = document.createElement("div");
    var title = document.createElement("p");
    title.className = "lane-title";
    title.textContent = "pid " + l.pid + " \u00b7 " + (l.comm || "?") +
      (l.parent != null ? " \u00b7 child of " + l.parent : "") +
      " \u00b7 " + l.start.toFixed(3) + " ms to " + (l.end == null ? "the end" : l.end.toFixed(3) + " ms");
    el.appendChild(title);
    mount("fl-lanes").appendChild(el);
    var t = l.t.slice(), v = l.rss.slice();
    if (t.length === 0) { t = [l.start]; v = [0]; }
    if (l.end == null && t[t.length - 1] < D.end) { t.push(D.end); v.push(v[v.length - 1]); }
    var draw = function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.font = Math.round(11 * devicePixelRatio) + "px system-ui,sans-serif";
      l.marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m[0], "x", true));
        if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
        ctx.strokeStyle = MARK[m[1]] || "#555";
        ctx.fillStyle = ctx.strokeStyle;
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillText(m[2], x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
      });
      ctx.restore();
    };
    var opts = base(110, {
      series: [
        { label: "time", value: fmtMs },
        { label: (l.comm || "?") + " [" + l.pid + "] resident", stroke: "hsl(" + ((l.pid * 137) % 360) + ",60%,40%)",
          fill: "hsla(" + ((l.pid * 137) % 360) + ",60%,40%,0.12)", width: 2, paths: stepped, value: fmtPages },
      ],
      axes: [xAxis, pageAxis("pages")],
      legend: { show: true },
    });
    opts.hooks.draw = [draw];
    charts.push(new uPlot(opts, [t, v], el));
  });
  if (D.lanesOf > D.lanes.length) {
    var more = document.createElement("p");
    more.className = "note";
    more.textContent = "The " + D.lanes.length + " processes with the most resident memory of " + D.lanesOf +
      "; the table above lists every one.";
    mount("fl-lanes").appendChild(more);
  }

  // The heatmap: events binned by time and address row, coloured by kind.
  (function () {
    var P = D.points, nrows = D.nrows;
    var cells = null, cols = 1, x0 = 0, x1 = 1;
    function bin(u) {
      x0 = u.scales.x.min; x1 = u.scales.x.max;
      cols = Math.max(1, Math.floor(u.bbox.width / (6 * devicePixelRatio)));
      cells = new Map();
      for (var i = 0; i < P.t.length; i++) {
        var t = P.t[i];
        if (t < x0 || t > x1) continue;
        var c = Math.min(cols - 1, Math.floor((t - x0) / (x1 - x0 || 1) * cols));
        var r = Math.min(nrows - 1, Math.max(0, Math.floor(P.y[i])));
        var key = c * nrows + r;
        var cell = cells.get(key);
        if (!cell) { cell = new Array(D.kinds.length).fill(0); cells.set(key, cell); }
        cell[P.k[i]]++;
      }
    }
    function draw(u) {
      bin(u);
      var ctx = u.ctx, b = u.bbox, cw = b.width / cols, ch = b.height / nrows, max = 1;
      cells.forEach(function (cell) { var n = cell.reduce(function (a, x) { return a + x; }, 0); if (n > max) max = n; });
      ctx.save();
      D.bands.forEach(function (band, i) {
        if (i % 2) { ctx.fillStyle = "#f7f7f7"; ctx.fillRect(b.left, b.top + band.row0 * ch, b.width, band.rows * ch); }
      });
      cells.forEach(function (cell, key) {
        var c = Math.floor(key / nrows), r = key % nrows, n = 0, best = 0;
        for (var k = 0; k < cell.length; k++) { n += cell[k]; if (cell[k] > cell[best]) best = k; }
        ctx.globalAlpha = 0.35 + 0.65 * Math.log(1 + n) / Math.log(1 + max);
        ctx.fillStyle = D.kinds[best][1];
        ctx.fillRect(b.left + c * cw, b.top + r * ch, Math.max(cw, 1), Math.max(ch, 1));
      });
      ctx.globalAlpha = 1;
      ctx.strokeStyle = "#bbb";
      ctx.lineWidth = 1;
      D.bands.forEach(function (band) {
        var y = Math.round(b.top + band.row0 * ch) + 0.5;
        ctx.beginPath(); ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y); ctx.stroke();
      });
      ctx.restore();
    }
    function bandAt(row) {
      for (var i = 0; i < D.bands.length; i++) {
        var band = D.bands[i];
        if (row >= band.row0 && row < band.row0 + band.rows) return band;
      }
      return null;
    }
    function hover(u) {
      var left = u.cursor.left, top = u.cursor.top;
      if (left == null || left < 0 || cells == null) { tip.style.display = "none"; return; }
      var bw = u.bbox.width / devicePixelRatio, bh = u.bbox.height / devicePixelRatio;
      var c = Math.min(cols - 1, Math.floor(left / bw * cols)), r = Math.floor(top / bh * nrows);
      var band = bandAt(r), cell = cells.get(c * nrows + r);
      if (!band) { tip.style.display = "none"; return; }
      var t0 = x0 + (x1 - x0) * c / cols, t1 = x0 + (x1 - x0) * (c + 1) / cols;
      var lo = BigInt(band.lo), span = BigInt(band.hi) - lo + 1n;
      var a0 = lo + span * BigInt(r - band.row0) / BigInt(band.rows);
      var a1 = lo + span * BigInt(r - band.row0 + 1) / BigInt(band.rows);
      var text = band.name + " of " + (band.comm || "?") + " [" + band.pid + "]\n0x" + a0.toString(16) + "-0x" +
        a1.toString(16) + "\n" + t0.toFixed(3) + "-" + t1.toFixed(3) + " ms";
      if (cell) cell.forEach(function (n, k) { if (n) text += "\n" + D.kinds[k][0] + ": " + n; });
      else text += "\nno events";
      if (P.every > 1) text += "\n(every " + P.every + "th event drawn)";
      tip.textContent = text;
      var rect = u.over.getBoundingClientRect();
      tip.style.left = (rect.left + left + 14) + "px";
      tip.style.top = (rect.top + top + 14) + "px";
      tip.style.display = "block";
    }
    // Rows on the y axis: each band's first row, named, unless it would
    // print over the one before.
    var rowPx = 460 / nrows;
    var ticks = [], last = -1e9;
    D.bands.forEach(function (band) {
      if ((band.row0 - last) * rowPx >= 13) { ticks.push(band.row0); last = band.row0; }
    });
    function label(row) {
      var band = bandAt(row);
      return band ? band.name + " [" + band.pid + "] " + band.lo : "";
    }
    var t = P.t.length ? P.t : [0];
    var y = P.t.length ? P.y : [0];
    var opts = base(460, {
      series: [{ label: "time", value: fmtMs }, { label: "row", show: true, paths: function () { return null; },
        points: { show: false }, value: function () { return ""; } }],
      scales: { x: { time: false, range: function () { return [0, D.end]; } }, y: { range: [0, nrows], dir: -1 } },
      axes: [xAxis, { label: "address (region, first page)", labelSize: 20, size: AXIS, splits: function () { return ticks; },
        values: function (u, vals) { return vals.map(label); }, grid: { show: false } }],
      legend: { show: false },
    });
    opts.hooks.draw = [draw];
    opts.hooks.setCursor = [hover];
    var u = new uPlot(opts, [t, y], mount("fl-heat"));
    u.over.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    charts.push(u);
  })();

  // Flame graph tabs.
  document.querySelectorAll(".fg-tabs button").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var i = btn.getAttribute("data-fg");
      document.querySelectorAll(".fg-tabs button").forEach(function (b) { b.className = b === btn ? "on" : ""; });
      document.querySelectorAll("[data-fg]").forEach(function (el) {
        if (el.tagName !== "BUTTON") el.style.display = el.getAttribute("data-fg") === i ? "block" : "none";
      });
    });
  });
})();
