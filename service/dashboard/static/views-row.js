// The tabs about one row: individual feature importance (from the sample), what-if and ICE (from
// the live POST /predict endpoint).

import { barChart, esc, fmt, lineChart, tableHtml } from "./charts.js";
import { grid } from "./metrics.js";
import {
  apiTarget, baseRow, cohortById, explanation, featureRange, isNumericFeature, outputOf, S, spaceLabel,
} from "./model.js";

const $ = (sel) => document.querySelector(sel);
const PAGE = 15;
const UP = "#D55E00", DOWN = "#0072B2";
export const ICE_MAX_POINTS = 100;

// -- calling the service ------------------------------------------------------------------------
export async function predict(rows, { explain }) {
  const body = { rows, explain, top_k: null, level: S.level, target: apiTarget() };
  const res = await fetch("../predict", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const text = await res.text();
  let payload = null;
  try { payload = JSON.parse(text); } catch { /* not JSON: reported as text below */ }
  if (!res.ok || payload === null) {
    const detail = payload && (payload.error ?? payload.detail ?? payload[0]?.error);
    throw new Error(`the service answered ${res.status}: ${typeof detail === "string" ? detail : text.slice(0, 300) || res.statusText}`);
  }
  return payload;
}

// A response's probabilities for row r as an array in class order (lists or {class: p} objects).
function probabilitiesOf(payload, r) {
  const p = payload.probabilities?.[r];
  if (!p) return null;
  if (Array.isArray(p)) return p;
  return S.classes.map((c) => p[c] ?? null);
}

function predictionHtml(label, probs) {
  const main = `<strong>${esc(label)}</strong>`;
  if (!probs) return main;
  return `${main} <span class="muted">(${S.classes.map((c, k) => `P(${esc(c)}) = ${fmt(probs[k], 4)}`).join(", ")})</span>`;
}

// Features of a row outside what training saw (the schema's range and categories), as the
// service flags them in each explanation's "outside".
function outsideOf(row) {
  return S.features.filter((f) => {
    const v = row[f.name];
    if (v === null || v === undefined) return false;
    if (f.kind === "category") return Array.isArray(f.categories) && f.categories.length > 0 && !f.categories.includes(v);
    if (f.kind === "boolean") return false;
    return (f.minimum != null && v < f.minimum) || (f.maximum != null && v > f.maximum);
  }).map((f) => f.name);
}

function outsideHtml(names, id) {
  if (!names || !names.length) return "";
  return `<p id="${id}" class="warning" role="note" data-features="${esc(JSON.stringify(names))}">Outside what training saw:
    <strong>${esc(names.join(", "))}</strong>. The explainer learned from the training data only, so this
    explanation is less certain here (its stated error says by how much).</p>`;
}

function needRowHtml() {
  return `<p class="muted">Pick a row first: in the table of the Individual feature importance tab, or by
    clicking a point in the Dataset explorer.</p>`;
}

// -- individual feature importance --------------------------------------------------------------
export function renderIndividual(ctx) {
  if (!S.omitted) renderRowTable(ctx);
  const box = $("#individual");
  if (S.omitted || S.selected === null) {
    box.innerHTML = S.omitted ? "" : needRowHtml();
    return;
  }
  const i = S.selected;
  const expl = explanation();
  const probs = S.hasProba ? S.sample.probabilities[i] : null;
  let html = `<h3 id="selected-heading" data-row="${i}">Sample row ${i}</h3>
    <p>Prediction: ${predictionHtml(S.yPred[i], probs)}; true ${S.task === "classification" ? "label" : "value"}: <strong>${esc(S.yTrue[i])}</strong></p>`;
  if (!expl) {
    box.innerHTML = `${html}<p class="muted">The sample holds no attributions at the ${esc(S.level)} level.</p>`;
    return;
  }
  const k = outputOf(expl)(i);
  const ranked = expl.feature_names.map((name, j) => [name, expl.values[i][j][k], j]).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const shown = ranked.slice(0, S.topK);
  const rest = ranked.slice(S.topK).reduce((s, r) => s + r[1], 0);
  const base = expl.base_values[k], output = expl.outputs[i][k];
  const valueOf = (name, j) => (expl.level === "engineered" && expl.data ? expl.data[i][j] : S.sample.columns[name]?.[i]);
  const labels = shown.map(([name, , j]) => `${name} = ${fmt(valueOf(name, j), 4)}`);
  const values = shown.map((r) => r[1]);
  if (ranked.length > shown.length) { labels.push(`(other ${ranked.length - shown.length} features)`); values.push(rest); }
  html += `<p>Explained output: <strong>${esc(expl.output_names[k])}</strong> in ${esc(spaceLabel(expl.space))} space, by the ${esc(expl.method)} method, at the ${esc(expl.level)} level.
    Base value <span id="base-value" data-value="${base}">${fmt(base, 5)}</span> + sum of attributions = output
    <span id="output-value" data-value="${output}">${fmt(output, 5)}</span>${Math.abs(expl.max_abs_residual) > 1e-6 ? ` (up to a residual of ${fmt(expl.max_abs_residual, 3)})` : ""}.</p>
    ${outsideHtml(outsideOf(Object.fromEntries(S.features.map((f) => [f.name, S.sample.columns[f.name]?.[i]]))), "individual-outside")}
    <div class="controls"><label>Top <output id="row-topk-value">${S.topK}</output> features
      <input id="row-topk" type="range" min="1" max="${ranked.length}" step="1" value="${S.topK}"></label></div>`;
  box.innerHTML = html;
  const chart = barChart({
    title: `Attributions of sample row ${i}`, summary: `Positive values push the output up, negative down; the rest are summed as "other".`,
    labels, xLabel: `Attribution (${spaceLabel(expl.space)})`,
    series: [{ name: "Attribution", color: UP, colors: values.map((v) => (v >= 0 ? UP : DOWN)), values }],
  });
  chart.id = "individual-chart";
  box.append(chart);
  const slider = box.querySelector("#row-topk");
  slider.addEventListener("input", () => ctx.interact("row top-k slider", () => { S.topK = Number(slider.value); }));
}

function renderRowTable(ctx) {
  const sel = $("#row-cohort");
  sel.innerHTML = S.cohorts.map((c) => `<option value="${c.id}"${c.id === S.rowCohort ? " selected" : ""}>${esc(c.name)} (${c.idx.length})</option>`).join("");
  const cohort = cohortById(S.rowCohort) ?? S.cohorts[0];
  const pages = Math.max(1, Math.ceil(cohort.idx.length / PAGE));
  S.rowPage = Math.min(S.rowPage, pages - 1);
  const rows = Array.from(cohort.idx.slice(S.rowPage * PAGE, (S.rowPage + 1) * PAGE));
  const probCol = S.hasProba;
  const body = rows.map((i) => {
    const p = probCol ? S.sample.probabilities[i][S.classes.indexOf(S.yPred[i])] : null;
    const err = S.task === "classification" ? (S.yPred[i] === S.yTrue[i] ? "correct" : "incorrect") : fmt(S.yPred[i] - S.yTrue[i], 4);
    return `<tr${i === S.selected ? ' class="selected"' : ""}><th scope="row">${i}</th><td>${esc(S.yTrue[i])}</td><td>${esc(S.yPred[i])}</td>
      ${probCol ? `<td class="num">${fmt(p, 4)}</td>` : ""}<td>${esc(err)}</td>
      <td><button type="button" class="link" data-select="${i}">Select row ${i}</button></td></tr>`;
  }).join("");
  $("#row-table").innerHTML = `<table class="data" id="rows"><caption>Rows of "${esc(cohort.name)}"</caption>
    <thead><tr><th scope="col">Sample row</th><th scope="col">True</th><th scope="col">Predicted</th>${probCol ? '<th scope="col">P(predicted)</th>' : ""}<th scope="col">${S.task === "classification" ? "Error" : "Predicted − true"}</th><th scope="col"></th></tr></thead>
    <tbody>${body}</tbody></table>
    <p class="pager"><button type="button" id="rows-prev"${S.rowPage ? "" : " disabled"}>Previous</button>
      rows ${cohort.idx.length ? S.rowPage * PAGE + 1 : 0}–${Math.min((S.rowPage + 1) * PAGE, cohort.idx.length)} of ${cohort.idx.length}
      <button type="button" id="rows-next"${S.rowPage < pages - 1 ? "" : " disabled"}>Next</button></p>`;
  $("#row-table").querySelectorAll("[data-select]").forEach((b) => b.addEventListener("click", () => ctx.interact("select row in table", () => ctx.selectRow(Number(b.dataset.select)))));
  $("#rows-prev").addEventListener("click", () => ctx.interact("row page", () => { S.rowPage -= 1; }));
  $("#rows-next").addEventListener("click", () => ctx.interact("row page", () => { S.rowPage += 1; }));
}

// -- what-if ------------------------------------------------------------------------------------
export function resetWhatIf() {
  const row = baseRow();
  S.whatIf = row ? { original: row, values: { ...row }, result: null, error: null } : null;
}

function inputHtml(f, k, value, original) {
  const changed = value !== original ? " changed" : "";
  const id = `wi-${k}`;
  let control;
  if (isNumericFeature(f)) {
    control = `<input id="${id}" class="wi${changed}" data-feature="${esc(f.name)}" type="number" step="${f.kind === "integer" ? 1 : "any"}" value="${value ?? ""}">`;
  } else {
    const options = f.kind === "boolean" ? [false, true] : f.categories ?? [];
    control = `<select id="${id}" class="wi${changed}" data-feature="${esc(f.name)}">${f.nullable ? '<option value="">(missing)</option>' : ""}${options.map((c, m) => `<option value="${m}"${c === value ? " selected" : ""}>${esc(c)}</option>`).join("")}</select>`;
  }
  const range = isNumericFeature(f) && f.minimum !== null ? ` <span class="muted">seen ${fmt(f.minimum, 4)} to ${fmt(f.maximum, 4)}</span>` : "";
  return `<div class="wi-field"><label for="${id}">${esc(f.name)}</label>${control}${range}</div>`;
}

// Read the form back into typed values; returns an error message for a bad number.
function readWhatIf() {
  for (const [k, f] of S.features.entries()) {
    const el = document.getElementById(`wi-${k}`);
    if (isNumericFeature(f)) {
      const text = el.value.trim();
      if (text === "") { S.whatIf.values[f.name] = null; continue; }
      const v = Number(text);
      if (!Number.isFinite(v)) return `${f.name}: enter a number`;
      S.whatIf.values[f.name] = v;
    } else {
      const options = f.kind === "boolean" ? [false, true] : f.categories ?? [];
      S.whatIf.values[f.name] = el.value === "" ? null : options[Number(el.value)];
    }
  }
  return null;
}

export function renderWhatIf(ctx) {
  const box = $("#whatif");
  if (!S.whatIf) resetWhatIf();
  if (!S.whatIf) { box.innerHTML = needRowHtml(); return; }
  const { original, values, result, error } = S.whatIf;
  const source = S.selected !== null ? `sample row ${S.selected}` : "a row made from the schema's ranges (this bundle has no sample)";
  const orig = S.selected !== null
    ? predictionHtml(S.yPred[S.selected], S.hasProba ? S.sample.probabilities[S.selected] : null)
    : "<span class=\"muted\">not predicted yet</span>";
  box.innerHTML = `<h3 data-row="${S.selected ?? ""}">Starting from ${esc(source)}</h3>
    <p>Original prediction: ${orig}</p>
    <form id="whatif-form" autocomplete="off"><div class="wi-grid">${S.features.map((f, k) => inputHtml(f, k, values[f.name], original[f.name])).join("")}</div>
      <p><button type="submit" id="whatif-predict">Predict edited row</button>
      <button type="button" id="whatif-reset">Reset to the original row</button></p></form>
    <p id="whatif-error" class="error" role="alert">${error ? esc(error) : ""}</p>
    <div id="whatif-result" aria-live="polite"></div>`;
  box.querySelector("#whatif-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    // the prediction first (fast), then its explanation (a sampled method can take seconds)
    ctx.interact("what-if predict", () => runWhatIf()).then(() => {
      if (S.whatIf?.result?.explaining) ctx.interact("what-if explanation", () => explainWhatIf());
    });
  });
  box.querySelector("#whatif-reset").addEventListener("click", () => ctx.interact("what-if reset", () => { S.whatIf = null; }));
  if (result) renderWhatIfResult(result);
}

async function runWhatIf() {
  const bad = readWhatIf();
  if (bad) { S.whatIf.error = bad; S.whatIf.result = null; return; }
  const edited = { ...S.whatIf.values };
  try {
    const payload = await predict([edited], { explain: false });
    S.whatIf.result = { payload, edited, explanation: null, explaining: true };
    S.whatIf.error = null;
  } catch (e) {
    S.whatIf.result = null;
    S.whatIf.error = e.message;
  }
}

async function explainWhatIf() {
  const result = S.whatIf?.result;
  if (!result) return;
  try {
    const payload = await predict([result.edited], { explain: true });
    result.explanation = (payload.explanations ?? []).find((e) => e.row === 0) ?? payload.explanations?.[0] ?? null;
  } catch (e) {
    S.whatIf.error = `the prediction stands, but explaining it failed: ${e.message}`;
  }
  result.explaining = false;
}

function renderWhatIfResult({ payload, edited, explanation, explaining }) {
  const box = $("#whatif-result");
  const label = payload.predictions[0];
  const probs = probabilitiesOf(payload, 0);
  const changed = S.features.filter((f) => edited[f.name] !== S.whatIf.original[f.name]).map((f) => `${f.name}: ${fmt(S.whatIf.original[f.name], 4)} → ${fmt(edited[f.name], 4)}`);
  let html = `<h3>Edited row</h3><p>Changed: ${changed.length ? esc(changed.join("; ")) : "nothing"}</p>
    <p>New prediction: <span id="whatif-prediction" data-value="${esc(JSON.stringify(label))}">${predictionHtml(label, probs)}</span></p>`;
  if (probs) {
    html += `<div id="whatif-probabilities">${tableHtml(["Class", "Probability"], S.classes.map((c, k) => [c, probs[k]]), {
      cellAttrs: (r, c) => (c === 1 ? ` data-class="${esc(S.classes[r])}" data-value="${probs[r]}"` : ""),
    })}</div>`;
  }
  if (!explanation) html += outsideHtml(outsideOf(edited), "whatif-outside");
  if (explaining) html += `<p id="whatif-explaining" class="muted">Explaining the edited row…</p>`;
  box.innerHTML = html;
  const ex = explanation;
  if (!ex) return;
  const ranked = [...ex.attributions].sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  const shown = ranked.slice(0, S.topK);
  const rest = ranked.slice(S.topK).reduce((s, a) => s + a.value, 0);
  const labels = shown.map((a) => `${a.feature} = ${fmt(edited[a.feature], 4)}`);
  const values = shown.map((a) => a.value);
  if (ranked.length > shown.length) { labels.push(`(other ${ranked.length - shown.length} features)`); values.push(rest); }
  const p = document.createElement("p");
  p.innerHTML = `Explained output: <strong>${esc(ex.target)}</strong> in ${esc(spaceLabel(ex.space))} space (${esc(ex.method)}, ${esc(ex.level)} level).
    Base value ${fmt(ex.base_value, 5)} + sum of attributions = output <span id="whatif-output" data-value="${ex.output}">${fmt(ex.output, 5)}</span>${ex.error ? `; <span id="whatif-error-estimate" data-value="${ex.error}">estimated error about ${fmt(ex.error, 3)}</span>` : ""}${ex.evaluations ? ` (refined with ${ex.evaluations} model evaluations)` : ""}.`;
  box.append(p);
  if (ex.outside?.length) box.insertAdjacentHTML("beforeend", outsideHtml(ex.outside, "whatif-outside"));
  const chart = barChart({
    title: "Attributions of the edited row (from POST /predict)", summary: "Positive values push the output up, negative down.",
    labels, xLabel: `Attribution (${spaceLabel(ex.space)})`,
    series: [{ name: "Attribution", color: UP, colors: values.map((v) => (v >= 0 ? UP : DOWN)), values }],
  });
  chart.id = "whatif-chart";
  box.append(chart);
}

// -- ICE ----------------------------------------------------------------------------------------
function iceGrid(f, points) {
  if (f.kind === "boolean") return [false, true];
  if (f.kind === "category") return [...(f.categories ?? [])];
  const [lo, hi] = featureRange(f);
  return grid(lo, hi, points, f.kind === "integer");
}

export function renderIce(ctx) {
  const box = $("#ice");
  const row = baseRow();
  if (!row) { box.innerHTML = needRowHtml(); return; }
  const edits = Boolean(S.whatIf?.result);
  const source = S.selected !== null ? `sample row ${S.selected}` : "a row made from the schema's ranges (this bundle has no sample)";
  box.innerHTML = `<h3 data-row="${S.selected ?? ""}">For ${esc(source)}</h3>
    <form id="ice-form" class="controls" autocomplete="off">
      <label>Feature <select id="ice-feature">${S.features.map((f) => `<option${f.name === S.ice.feature ? " selected" : ""}>${esc(f.name)}</option>`).join("")}</select></label>
      <label>Grid points <input id="ice-points" type="number" min="2" max="${ICE_MAX_POINTS}" step="1" value="${S.ice.points}"></label>
      ${edits ? `<label><input id="ice-edits" type="checkbox"${S.ice.useEdits ? " checked" : ""}> start from the what-if edits</label>` : ""}
      <button type="submit" id="ice-draw">Draw ICE curve</button>
    </form>
    <p id="ice-error" class="error" role="alert">${S.ice.error ? esc(S.ice.error) : ""}</p>
    <div id="ice-result"></div>`;
  box.querySelector("#ice-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.ice.feature = box.querySelector("#ice-feature").value;
    S.ice.points = Math.min(ICE_MAX_POINTS, Math.max(2, Number(box.querySelector("#ice-points").value) || 25));
    S.ice.useEdits = Boolean(box.querySelector("#ice-edits")?.checked);
    ctx.interact("draw ICE curve", () => runIce(S.ice.useEdits && edits ? S.whatIf.result.edited : row));
  });
  if (S.ice.result) renderIceResult(S.ice.result);
}

async function runIce(row) {
  const f = S.features.find((g) => g.name === S.ice.feature);
  const xs = iceGrid(f, S.ice.points);
  const rows = xs.map((v) => ({ ...row, [f.name]: v }));
  try {
    const t0 = performance.now();
    const payload = await predict(rows, { explain: false });
    S.ice.result = { feature: f.name, xs, current: row[f.name], payload, ms: performance.now() - t0 };
    S.ice.error = null;
  } catch (e) {
    S.ice.result = null;
    S.ice.error = e.message;
  }
}

function renderIceResult({ feature, xs, current, payload, ms }) {
  const f = S.features.find((g) => g.name === feature);
  let yLabel, ys, yDomain = null;
  if (S.task === "classification" && payload.probabilities) {
    const cls = S.target === "predicted" ? String(S.selected !== null ? S.yPred[S.selected] : payload.predictions[0]) : S.target;
    const k = S.classes.indexOf(cls);
    ys = xs.map((_, r) => probabilitiesOf(payload, r)[k]);
    yLabel = `Probability of ${cls}`;
    yDomain = [0, 1];
  } else if (S.task === "classification") {
    ys = payload.predictions.map((p) => S.classes.indexOf(String(p)));
    yLabel = `Predicted class (index in ${S.classes.join(", ")})`;
  } else {
    ys = payload.predictions.map(Number);
    yLabel = "Predicted value";
  }
  const chart = lineChart({
    title: `ICE: ${yLabel} as ${feature} varies`, summary: `${xs.length} grid points; the rule marks the row's own value.`,
    x: { label: feature, kind: isNumericFeature(f) ? "number" : "category", values: xs },
    series: [{ name: yLabel, color: "#0072B2", values: ys }], yLabel, yDomain,
    marker: { x: current, label: `row's value ${fmt(current, 4)}` },
  });
  chart.id = "ice-chart";
  chart.dataset.points = String(xs.length);
  const note = document.createElement("p");
  note.className = "muted";
  note.textContent = `One request to POST /predict with ${xs.length} rows took ${ms.toFixed(0)} ms.`;
  $("#ice-result").replaceChildren(chart, note);
}
