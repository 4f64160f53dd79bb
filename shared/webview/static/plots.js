// Small inline-SVG plots for the web view: lines and stacked bars, no library.
"use strict";
const Plots = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2c6e49", "#5477b5", "#c98b1b", "#b23a48", "#8a4fb3", "#3a9ea5", "#6b6b6b", "#d1603d"];
  const W = 600, H = 160, PAD = { l: 44, r: 8, t: 8, b: 20 };

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function frame(target, yMax, xLabels) {
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    const y = (v) => H - PAD.b - (yMax > 0 ? (v / yMax) * (H - PAD.t - PAD.b) : 0);
    svg.appendChild(el("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, stroke: "#999" }));
    svg.appendChild(el("text", { x: 2, y: PAD.t + 10, "font-size": 10, fill: "#777" }, fmt(yMax)));
    svg.appendChild(el("text", { x: 2, y: H - PAD.b, "font-size": 10, fill: "#777" }, "0"));
    if (xLabels) {
      svg.appendChild(el("text", { x: PAD.l, y: H - 4, "font-size": 10, fill: "#777" }, xLabels[0]));
      svg.appendChild(el("text", { x: W - PAD.r, y: H - 4, "font-size": 10, fill: "#777", "text-anchor": "end" }, xLabels[1]));
    }
    target.replaceChildren(svg);
    return { svg, y };
  }

  function fmt(v) { return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2); }
  function hhmm(t) { return new Date(t).toISOString().slice(11, 16); }

  function legend(target, names) {
    const box = document.createElement("div");
    box.className = "legend";
    names.forEach((name, i) => {
      const s = document.createElement("span"), sw = document.createElement("i");
      sw.style.background = COLORS[i % COLORS.length];
      s.append(sw, name);
      box.appendChild(s);
    });
    target.appendChild(box);
  }

  // series: {name: [[isoTime or ms, value], ...]}
  function lines(target, series, empty) {
    const names = Object.keys(series).sort();
    const points = names.flatMap((n) => series[n].map(([t, v]) => [new Date(t).getTime(), v]));
    if (!points.length) { target.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: empty })); return; }
    const t0 = Math.min(...points.map((p) => p[0])), t1 = Math.max(...points.map((p) => p[0]));
    const yMax = Math.max(...points.map((p) => p[1]), 1e-9);
    const { svg, y } = frame(target, yMax, [hhmm(t0), hhmm(t1)]);
    const x = (t) => PAD.l + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r) : (W - PAD.l - PAD.r) / 2);
    names.forEach((name, i) => {
      const pts = series[name].map(([t, v]) => `${x(new Date(t).getTime()).toFixed(1)},${y(v).toFixed(1)}`);
      if (pts.length === 1) pts.push(pts[0]);
      svg.appendChild(el("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "data-series": name }));
      for (const [t, v] of series[name]) svg.appendChild(el("circle", { cx: x(new Date(t).getTime()), cy: y(v), r: 2.5, fill: COLORS[i % COLORS.length] }));
    });
    legend(target, names);
  }

  // buckets: [{at, counts: {outcome: n}}]
  function bars(target, buckets, empty) {
    if (!buckets.length) { target.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: empty })); return; }
    const names = [...new Set(buckets.flatMap((b) => Object.keys(b.counts)))].sort();
    const yMax = Math.max(...buckets.map((b) => Object.values(b.counts).reduce((a, c) => a + c, 0)));
    const { svg, y } = frame(target, yMax, [hhmm(buckets[0].at), hhmm(buckets[buckets.length - 1].at)]);
    const slot = (W - PAD.l - PAD.r) / buckets.length;
    buckets.forEach((b, i) => {
      let base = 0;
      names.forEach((name, j) => {
        const n = b.counts[name] || 0;
        if (!n) return;
        svg.appendChild(el("rect", { x: PAD.l + i * slot + 1, y: y(base + n), width: Math.max(slot - 2, 1), height: y(base) - y(base + n), fill: COLORS[j % COLORS.length], "data-outcome": name }));
        base += n;
      });
    });
    legend(target, names);
  }

  return { lines, bars };
})();
