// Small SVG charts for the console: bars (stacked above and below zero), lines on a left
// or right axis and horizontal limit lines. Every chart carries a text legend, so colour
// is never the only way to tell series apart.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(value)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

function fmt(value) {
  const abs = Math.abs(value);
  if (abs >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (abs >= 1e3) return (value / 1e3).toFixed(abs >= 1e4 ? 0 : 1) + "k";
  return String(Math.round(value * 100) / 100);
}

// spec: {title, labels: [..], bars: [{name, values, cls, sign: 1|-1}], lines: [{name,
// values, cls, right}], hlines: [{name, value, cls}], unit, rightUnit}
function chart(spec) {
  const W = 640, H = 240, L = 48, R = 44, T = 12, B = 28;
  const n = spec.labels.length;
  const bars = spec.bars || [], lines = spec.lines || [], hlines = spec.hlines || [];
  let up = 0, down = 0;
  for (let i = 0; i < n; i++) {
    let pos = 0, neg = 0;
    for (const b of bars) (b.sign < 0 ? (neg += b.values[i] || 0) : (pos += b.values[i] || 0));
    up = Math.max(up, pos); down = Math.max(down, neg);
  }
  for (const l of lines) if (!l.right) for (const v of l.values) if (v != null) {
    up = Math.max(up, v); down = Math.max(down, -v);
  }
  for (const h of hlines) if (h.value != null) {
    if (h.value >= 0) up = Math.max(up, h.value); else down = Math.max(down, -h.value);
  }
  up = niceMax(up * 1.05); down = down > 0 ? niceMax(down * 1.05) : 0;
  const rightMax = niceMax(Math.max(0, ...lines.filter(l => l.right).flatMap(l => l.values.filter(v => v != null))) * 1.1);
  const y = v => T + (H - T - B) * (up - v) / (up + down);
  const yr = v => T + (H - T - B) * (1 - v / rightMax);
  const step = (W - L - R) / Math.max(1, n);
  const x = i => L + i * step;
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": spec.title});
  svg.appendChild(svgEl("title", {}, spec.title));
  for (const v of [up, up / 2, 0, -down / 2, -down]) {
    if (down === 0 && v < 0) continue;
    svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid"}));
    svg.appendChild(svgEl("text", {x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end"}, fmt(v)));
  }
  if (lines.some(l => l.right)) {
    for (const v of [rightMax, rightMax / 2]) {
      svg.appendChild(svgEl("text", {x: W - R + 4, y: yr(v) + 4, class: "tick"}, fmt(v)));
    }
  }
  const labelEvery = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += labelEvery) {
    svg.appendChild(svgEl("text", {x: x(i) + step / 2, y: H - 8, class: "tick", "text-anchor": "middle"}, spec.labels[i]));
  }
  for (let i = 0; i < n; i++) {
    let pos = 0, neg = 0;
    for (const b of bars) {
      const v = b.values[i] || 0;
      if (v <= 0) continue;
      const top = b.sign < 0 ? -neg : pos + v;
      svg.appendChild(svgEl("rect", {x: x(i) + step * 0.1, width: Math.max(1, step * 0.8),
        y: y(top), height: Math.max(0.5, y(0) - y(v)), class: b.cls}));
      if (b.sign < 0) neg += v; else pos += v;
    }
  }
  for (const l of lines) {
    const points = l.values.map((v, i) => v == null ? null : `${x(i) + step / 2},${(l.right ? yr : y)(v)}`).filter(Boolean);
    if (points.length) svg.appendChild(svgEl("polyline", {points: points.join(" "), class: "line " + l.cls}));
  }
  for (const h of hlines) if (h.value != null) {
    svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: y(h.value), y2: y(h.value), class: "limit " + h.cls}));
  }
  const figure = document.createElement("figure");
  figure.className = "figure";
  figure.appendChild(svg);
  const caption = document.createElement("figcaption");
  const legend = [...bars.map(b => [b.cls, b.name, "bar"]), ...lines.map(l => [l.cls, l.name + (l.right ? ` (right axis${spec.rightUnit ? ", " + spec.rightUnit : ""})` : ""), "line"]),
    ...hlines.filter(h => h.value != null).map(h => [h.cls, h.name, "limit"])];
  caption.appendChild(document.createTextNode(spec.title + (spec.unit ? ` (${spec.unit})` : "") + ": "));
  for (const [cls, name, kind] of legend) {
    const key = document.createElement("span");
    key.className = `key key-${kind} ${cls}`;
    key.textContent = name;
    caption.appendChild(key);
  }
  figure.appendChild(caption);
  return figure;
}

window.charts = {chart, fmt};
