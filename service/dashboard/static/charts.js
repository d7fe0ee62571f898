// Hand-drawn SVG charts. Each returns a <figure> holding the chart and, for accessibility, the same
// values as a plain table inside a <details> element (built when first opened).

export const COHORT_COLORS = ["#0072B2", "#D55E00", "#009E73"];
const CATEGORY_COLORS = [
  "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
  "#999999", "#882255",
];
// viridis at five stops, interpolated linearly
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "n/a";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}

// 32 shades: few enough for the scatter to draw one path per shade
export function rampColor(t) {
  const u = Math.round(Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * 31) / 31 * (RAMP.length - 1);
  const k = Math.min(RAMP.length - 2, Math.floor(u)), f = u - k;
  const c = RAMP[k].map((a, m) => Math.round(a + f * (RAMP[k + 1][m] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function categoryColor(k) {
  return CATEGORY_COLORS[k % CATEGORY_COLORS.length];
}

export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function scale(d0, d1, r0, r1) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function pad([lo, hi], frac = 0.04) {
  if (hi === lo) return [lo - 1, hi + 1];
  const p = (hi - lo) * frac;
  return [lo - p, hi + p];
}

function short(label, max = 28) {
  const s = String(label);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// <table> markup; `rows` are arrays of cell values, the first cell a row header.
export function tableHtml(headers, rows, { caption = "", cellAttrs = null } = {}) {
  const head = headers.map((h) => `<th scope="col">${esc(h)}</th>`).join("");
  const body = rows.map((r, ri) => `<tr>${r.map((c, ci) => {
    const attrs = cellAttrs ? cellAttrs(ri, ci) : "";
    return ci === 0 ? `<th scope="row"${attrs}>${esc(c)}</th>` : `<td${attrs}>${esc(typeof c === "number" ? fmt(c, 6) : c ?? "n/a")}</td>`;
  }).join("")}</tr>`).join("");
  return `<table class="data">${caption ? `<caption>${esc(caption)}</caption>` : ""}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function figure(title, summary, chartHtml, tableFn, extraClass = "") {
  const fig = document.createElement("figure");
  fig.className = `chart ${extraClass}`;
  fig.innerHTML = `<figcaption>${esc(title)}</figcaption>${chartHtml}
    <details class="fallback"><summary>Values as a table</summary><div class="fallback-body"></div></details>`;
  const svg = fig.querySelector("svg");
  if (svg) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${title}. ${summary}`);
  }
  const details = fig.querySelector("details");
  details.addEventListener("toggle", () => {
    const body = details.querySelector(".fallback-body");
    if (details.open && !body.hasChildNodes()) body.innerHTML = tableFn();
  });
  return fig;
}

function legendHtml(items) {
  return `<ul class="legend">${items.map(([name, color]) => `<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${color}"/></svg>${esc(name)}</li>`).join("")}</ul>`;
}

// Horizontal grouped bars: one group per label, one bar per series. `onSelect(i)` makes groups
// clickable (and keyboard-activatable).
export function barChart({ title, summary = "", labels, series, xLabel = "", onSelect = null, selected = null, width = 720 }) {
  const barH = series.length > 1 ? 10 : 16, gap = 8;
  const groupH = series.length * barH + gap;
  const left = Math.min(240, 20 + 7 * Math.max(4, ...labels.map((l) => short(l).length)));
  const top = 10, bottom = 36, right = 12;
  const height = top + bottom + labels.length * groupH;
  const all = series.flatMap((s) => s.values).filter((v) => v !== null && Number.isFinite(v));
  // room beyond the longest bar on each side for its value label
  const span = Math.max(...all.map(Math.abs), 0) || 1;
  const lo = Math.min(0, ...all) < 0 ? Math.min(...all) - 0.18 * span : 0;
  const hi = Math.max(0, ...all) > 0 || lo === 0 ? Math.max(0, ...all) + 0.18 * span : 0;
  const x = scale(lo, hi, left, width - right);
  const ticks = niceTicks(lo, hi, 5).filter((t) => t >= lo && t <= hi);
  let g = "";
  for (const t of ticks) {
    g += `<line class="grid" x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${height - bottom}"/>`;
    g += `<text class="tick" x="${x(t)}" y="${height - bottom + 14}" text-anchor="middle">${esc(fmt(t, 3))}</text>`;
  }
  g += `<line class="axis" x1="${x(0)}" x2="${x(0)}" y1="${top}" y2="${height - bottom}"/>`;
  labels.forEach((label, i) => {
    const y0 = top + i * groupH;
    const cls = `bar-group${onSelect ? " clickable" : ""}${selected === i ? " selected" : ""}`;
    const attrs = onSelect ? ` tabindex="0" role="button" aria-label="${esc(label)}: show details"` : "";
    g += `<g class="${cls}" data-index="${i}"${attrs}><rect class="hit" x="0" y="${y0}" width="${width}" height="${groupH}" fill="transparent"/>`;
    g += `<text class="label" x="${left - 6}" y="${y0 + (series.length * barH) / 2 + 4}" text-anchor="end">${esc(short(label))}<title>${esc(label)}</title></text>`;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (v === null || !Number.isFinite(v)) return;
      const x0 = x(Math.min(0, v)), w = Math.max(1, Math.abs(x(v) - x(0)));
      const yb = y0 + k * barH;
      g += `<rect x="${x0}" y="${yb}" width="${w}" height="${barH - 2}" fill="${s.colors ? s.colors[i] : s.color}"><title>${esc(s.name)}: ${esc(fmt(v, 6))}</title></rect>`;
      g += `<text class="value" x="${v >= 0 ? x0 + w + 3 : x0 - 3}" y="${yb + barH - 4}" text-anchor="${v >= 0 ? "start" : "end"}">${esc(fmt(v, 3))}</text>`;
    });
    g += "</g>";
  });
  if (xLabel) g += `<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 4}" text-anchor="middle">${esc(xLabel)}</text>`;
  const svg = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" class="bars">${g}</svg>`;
  const legend = series.length > 1 ? legendHtml(series.map((s) => [s.name, s.color])) : "";
  const fig = figure(title, summary, svg + legend, () => tableHtml(["", ...series.map((s) => s.name)], labels.map((l, i) => [l, ...series.map((s) => s.values[i])])));
  if (onSelect) {
    const pick = (ev) => {
      const grp = ev.target.closest(".bar-group");
      if (grp) onSelect(Number(grp.dataset.index));
    };
    const svgEl = fig.querySelector("svg");
    svgEl.addEventListener("click", pick);
    svgEl.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(ev); } });
  }
  return fig;
}

// Vertical grouped bars (histograms, class shares): one group per label, one bar per series.
export function columnChart({ title, summary = "", labels, series, yLabel = "", xLabel = "", width = 720, height = 260, yFormat = (v) => fmt(v, 3) }) {
  const left = 54, right = 10, top = 10, bottom = 58;
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  const hi = Math.max(...all, 0) || 1;
  const y = scale(0, hi, height - bottom, top);
  const groupW = (width - left - right) / labels.length;
  const barW = Math.max(1, (groupW - 4) / series.length);
  let g = "";
  for (const t of niceTicks(0, hi, 4)) {
    g += `<line class="grid" x1="${left}" x2="${width - right}" y1="${y(t)}" y2="${y(t)}"/>`;
    g += `<text class="tick" x="${left - 4}" y="${y(t) + 4}" text-anchor="end">${esc(yFormat(t))}</text>`;
  }
  const every = Math.ceil(labels.length / 12);
  labels.forEach((label, i) => {
    const x0 = left + i * groupW + 2;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (!Number.isFinite(v)) return;
      g += `<rect x="${x0 + k * barW}" y="${y(v)}" width="${Math.max(1, barW - 1)}" height="${Math.max(0, y(0) - y(v))}" fill="${s.color}"><title>${esc(s.name)}, ${esc(label)}: ${esc(yFormat(v))}</title></rect>`;
    });
    if (i % every === 0) g += `<text class="tick" x="${x0 + groupW / 2}" y="${height - bottom + 14}" text-anchor="middle">${esc(short(label, 12))}</text>`;
  });
  g += `<line class="axis" x1="${left}" x2="${width - right}" y1="${y(0)}" y2="${y(0)}"/>`;
  if (xLabel) g += `<text class="axis-label" x="${(left + width) / 2}" y="${height - 20}" text-anchor="middle">${esc(xLabel)}</text>`;
  if (yLabel) g += `<text class="axis-label" transform="translate(12 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  const svg = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${g}</svg>`;
  const legend = series.length > 1 ? legendHtml(series.map((s) => [s.name, s.color])) : "";
  return figure(title, summary, svg + legend, () => tableHtml([xLabel || "", ...series.map((s) => s.name)], labels.map((l, i) => [l, ...series.map((s) => s.values[i])])));
}

// Axis positions: numbers as they are, categories at their index with a small fixed jitter.
function positions(axis, i) {
  const v = axis.values[i];
  if (v === null || v === undefined) return null;
  if (axis.kind === "number") return v;
  const k = axis.categories.indexOf(v);
  return k < 0 ? null : k + (((i * 2654435761) % 1000) / 1000 - 0.5) * 0.5;
}

function axisDomain(axis, idxs) {
  if (axis.kind !== "number") return [-0.5, axis.categories.length - 0.5];
  let lo = Infinity, hi = -Infinity;
  for (const idx of idxs) for (const i of idx) {
    const v = axis.values[i];
    if (v === null || Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? pad([lo, hi]) : [0, 1];
}

function axisTicks(axis, [lo, hi], r, vertical, at) {
  let g = "";
  const ticks = axis.kind === "number" ? niceTicks(lo, hi, vertical ? 5 : 6).map((t) => [t, fmt(t, 3)]) : axis.categories.map((c, k) => [k, short(c, 10)]);
  for (const [t, label] of ticks) {
    const p = r(t);
    g += vertical
      ? `<line class="grid" x1="${at[0]}" x2="${at[1]}" y1="${p}" y2="${p}"/><text class="tick" x="${at[0] - 4}" y="${p + 4}" text-anchor="end">${esc(label)}</text>`
      : `<line class="grid" x1="${p}" x2="${p}" y1="${at[0]}" y2="${at[1]}"/><text class="tick" x="${p}" y="${at[1] + 14}" text-anchor="middle">${esc(label)}</text>`;
  }
  return g;
}

function colorOf(color, i) {
  if (!color) return null;
  const v = color.values[i];
  if (v === null || v === undefined) return "#bbbbbb";
  if (color.kind === "number") return rampColor((v - color.lo) / (color.hi - color.lo || 1));
  return categoryColor(color.categories.indexOf(v));
}

// Scatter plots side by side, one per panel ({name, idx, color}), sharing axes. `onPick(i)` is
// called with the sample position nearest a click.
export function scatterChart({ title, summary = "", panels, x, y, color = null, selected = null, onPick = null, tableColumns = null }) {
  const width = panels.length > 2 ? 420 : panels.length === 2 ? 540 : 720;
  const height = panels.length > 2 ? 340 : 420;
  const left = 54, right = 10, top = 10, bottom = 40;
  const dx = axisDomain(x, panels.map((p) => p.idx));
  const dy = axisDomain(y, panels.map((p) => p.idx));
  const sx = scale(dx[0], dx[1], left, width - right);
  const sy = scale(dy[0], dy[1], height - bottom, top);
  if (color && color.kind === "number") {
    let lo = Infinity, hi = -Infinity;
    for (const v of color.values) if (v !== null && !Number.isNaN(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    color = { ...color, lo, hi };
  }
  // one path per colour, each point a zero-length round-capped segment: fast for thousands
  const r = panels.reduce((s, p) => s + p.idx.length, 0) > 3000 ? 2 : 3;
  const svgs = panels.map((p) => {
    let g = axisTicks(x, dx, sx, false, [top, height - bottom]) + axisTicks(y, dy, sy, true, [left, width - right]);
    const byColor = new Map();
    let sel = "";
    for (const i of p.idx) {
      const px = positions(x, i), py = positions(y, i);
      if (px === null || py === null) continue;
      const cx = sx(px).toFixed(1), cy = sy(py).toFixed(1);
      const c = colorOf(color, i) ?? p.color;
      if (!byColor.has(c)) byColor.set(c, []);
      byColor.get(c).push(`M${cx} ${cy}h0`);
      if (i === selected) sel = `<circle class="selected-point" cx="${cx}" cy="${cy}" r="7" data-i="${i}"/>`;
    }
    g += `<g class="points" stroke-width="${2 * r}">${[...byColor].map(([c, d]) => `<path d="${d.join("")}" stroke="${c}"/>`).join("")}</g>${sel}`;
    g += `<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 4}" text-anchor="middle">${esc(x.label)}</text>`;
    g += `<text class="axis-label" transform="translate(12 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(y.label)}</text>`;
    return `<div class="panel"><h4><span class="swatch" data-color="${p.color}"></span>${esc(p.name)} <span class="muted">(${p.idx.length} rows)</span></h4>
      <svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" data-panel="${esc(p.name)}" class="scatter${onPick ? " clickable" : ""}">${g}</svg></div>`;
  });
  let legend = "";
  if (color && color.kind === "number") {
    legend = `<p class="legend">${esc(color.label)}: <span class="ramp-label">${esc(fmt(color.lo, 3))}</span><svg width="120" height="10" aria-hidden="true">${[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => `<rect x="${k * 12}" width="12" height="10" fill="${rampColor(k / 9)}"/>`).join("")}</svg><span class="ramp-label">${esc(fmt(color.hi, 3))}</span></p>`;
  } else if (color) {
    legend = legendHtml(color.categories.map((c, k) => [`${color.label}: ${c}`, categoryColor(k)]));
  }
  const cols = tableColumns ?? [["x", x], ["y", y]];
  const fig = figure(title, summary, `<div class="panels">${svgs.join("")}</div>${legend}`, () => {
    const rows = [];
    for (const p of panels) for (const i of p.idx) rows.push([i, p.name, ...cols.map(([, a]) => a.values[i])]);
    return tableHtml(["Sample row", "Cohort", ...cols.map(([, a]) => a.label)], rows);
  });
  fig.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.color; });
  if (onPick) {
    fig.querySelectorAll("svg.scatter").forEach((svgEl, pi) => {
      svgEl.addEventListener("click", (ev) => {
        const m = svgEl.getScreenCTM();
        if (!m) return;
        const pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
        let best = null, bestD = 144; // within 12 px
        for (const i of panels[pi].idx) {
          const px = positions(x, i), py = positions(y, i);
          if (px === null || py === null) continue;
          const d = (sx(px) - pt.x) ** 2 + (sy(py) - pt.y) ** 2;
          if (d < bestD) { bestD = d; best = i; }
        }
        if (best !== null) onPick(best);
      });
    });
  }
  return fig;
}

// Lines over a shared x grid; `marker` ({x, label}) draws a vertical rule, e.g. the row's own value.
export function lineChart({ title, summary = "", x, series, yLabel = "", marker = null, yDomain = null, width = 720, height = 320 }) {
  const left = 60, right = 16, top = 12, bottom = 44;
  const categorical = x.kind !== "number";
  const xs = categorical ? x.values.map((_, k) => k) : x.values;
  const dx = categorical ? [-0.5, x.values.length - 0.5] : pad([Math.min(...xs), Math.max(...xs)], 0.02);
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const dy = yDomain ?? pad([Math.min(...all), Math.max(...all)], 0.08);
  const sx = scale(dx[0], dx[1], left, width - right);
  const sy = scale(dy[0], dy[1], height - bottom, top);
  let g = axisTicks({ kind: "number" }, dy, sy, true, [left, width - right]);
  g += categorical ? axisTicks({ kind: "category", categories: x.values.map(String) }, dx, sx, false, [top, height - bottom]) : axisTicks({ kind: "number" }, dx, sx, false, [top, height - bottom]);
  if (marker && marker.x !== null && marker.x !== undefined) {
    const mx = categorical ? x.values.map(String).indexOf(String(marker.x)) : marker.x;
    if (mx >= 0 || !categorical) {
      g += `<line class="marker" x1="${sx(mx)}" x2="${sx(mx)}" y1="${top}" y2="${height - bottom}"/><text class="tick" x="${sx(mx) + 4}" y="${top + 10}">${esc(marker.label)}</text>`;
    }
  }
  for (const s of series) {
    const d = s.values.map((v, k) => `${k ? "L" : "M"}${sx(xs[k]).toFixed(1)},${sy(v).toFixed(1)}`).join("");
    g += `<path class="line" d="${d}" stroke="${s.color}"/>`;
    g += s.values.map((v, k) => `<circle cx="${sx(xs[k]).toFixed(1)}" cy="${sy(v).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(fmt(x.values[k], 4))}: ${esc(fmt(v, 4))}</title></circle>`).join("");
  }
  g += `<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 6}" text-anchor="middle">${esc(x.label)}</text>`;
  g += `<text class="axis-label" transform="translate(14 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  const svg = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${g}</svg>`;
  const legend = series.length > 1 ? legendHtml(series.map((s) => [s.name, s.color])) : "";
  return figure(title, summary, svg + legend, () => tableHtml([x.label, ...series.map((s) => s.name)], x.values.map((v, k) => [v, ...series.map((s) => s.values[k])])));
}
