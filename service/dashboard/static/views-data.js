// The tabs computed from the sample alone: cohorts, model performance, dataset explorer and
// aggregate feature importance. Each `render*` redraws its panel from the state `S`.

import { barChart, columnChart, COHORT_COLORS, esc, fmt, scatterChart, tableHtml } from "./charts.js";
import {
  classificationMetrics, extent, histogram, meanAbsAttribution, OPS, regressionMetrics,
} from "./metrics.js";
import {
  addCohort, cohortRows, comparedCohorts, describeFilter, explanation, field, outputOf,
  removeCohort, S, spaceLabel,
} from "./model.js";

const $ = (sel) => document.querySelector(sel);

export function cohortColor(id) {
  return COHORT_COLORS[Math.max(0, S.compared.indexOf(id)) % COHORT_COLORS.length];
}

function fieldOptions(selected, { none = false, kinds = null } = {}) {
  const groups = new Map();
  for (const f of S.fields.values()) {
    if (kinds && !kinds.includes(f.kind)) continue;
    if (!groups.has(f.group)) groups.set(f.group, []);
    groups.get(f.group).push(f);
  }
  let html = none ? `<option value="">(cohort colour)</option>` : "";
  for (const [group, fs] of groups) {
    html += `<optgroup label="${esc(group)}">${fs.map((f) => `<option value="${esc(f.id)}"${f.id === selected ? " selected" : ""}>${esc(f.label)}</option>`).join("")}</optgroup>`;
  }
  return html;
}

// -- cohorts ------------------------------------------------------------------------------------
export function renderCohorts(ctx) {
  const body = $("#cohort-table tbody");
  body.innerHTML = S.cohorts.map((c) => `<tr data-cohort="${esc(c.name)}">
      <th scope="row">${esc(c.name)}</th><td class="num">${c.idx.length}</td>
      <td>${c.filters.length ? c.filters.map((f) => esc(describeFilter(f))).join("; ") : "none (every row)"}</td>
      <td>${c.id === 0 ? "" : `<button type="button" class="link" data-remove="${c.id}">Delete</button>`}</td></tr>`).join("");
  body.querySelectorAll("[data-remove]").forEach((b) => b.addEventListener("click", () => ctx.interact("delete cohort", () => {
    removeCohort(Number(b.dataset.remove));
  })));
  const fieldSel = $("#filter-field");
  if (!fieldSel.options.length) {
    fieldSel.innerHTML = fieldOptions(S.fields.keys().next().value);
    updateFilterControls();
  }
  $("#filter-list").innerHTML = S.draftFilters.map((f, k) => `<li>${esc(describeFilter(f))}
      <button type="button" class="link" data-drop="${k}" aria-label="Remove filter ${esc(describeFilter(f))}">remove</button></li>`).join("");
  $("#filter-list").querySelectorAll("[data-drop]").forEach((b) => b.addEventListener("click", () => ctx.interact("remove filter", () => {
    S.draftFilters.splice(Number(b.dataset.drop), 1);
  })));
  $("#cohort-preview").textContent = `These filters match ${cohortRows(S.draftFilters).length} of ${S.n} rows.`;
}

export function updateFilterControls() {
  const f = field($("#filter-field").value);
  if (!f) return;
  $("#filter-op").innerHTML = OPS[f.kind].map(([op, label]) => `<option value="${esc(op)}">${esc(label)} (${esc(op)})</option>`).join("");
  const numeric = f.kind === "number";
  $("#filter-value").hidden = !numeric;
  $("#filter-value-select").hidden = numeric;
  if (!numeric) $("#filter-value-select").innerHTML = f.categories.map((c) => `<option>${esc(c)}</option>`).join("");
}

// The filter the "Add a filter" controls describe, or an error message.
export function draftFilter() {
  const f = field($("#filter-field").value);
  const op = $("#filter-op").value;
  if (f.kind === "number") {
    const text = $("#filter-value").value.trim();
    const value = Number(text);
    if (text === "" || !Number.isFinite(value)) return { error: `${f.label}: enter a number to compare with` };
    return { filter: { field: f.id, op, value } };
  }
  return { filter: { field: f.id, op, value: $("#filter-value-select").value } };
}

export function saveCohort() {
  const name = $("#cohort-name").value.trim();
  if (!name) return "Name the cohort first.";
  if (S.cohorts.some((c) => c.name === name)) return `A cohort named "${name}" exists already.`;
  if ($("#filter-value").value.trim() !== "" && !$("#filter-value").hidden) {
    const { filter } = draftFilter();
    const seen = S.draftFilters.some((d) => d.field === filter?.field && d.op === filter?.op && d.value === filter?.value);
    if (filter && !seen) S.draftFilters.push(filter);
  }
  const cohort = addCohort(name, [...S.draftFilters]);
  S.draftFilters = [];
  $("#cohort-name").value = "";
  $("#filter-value").value = "";
  return S.compared.includes(cohort.id) ? "" : `Saved "${name}"; three cohorts are compared already, untick one to compare it.`;
}

// -- model performance --------------------------------------------------------------------------
const CLASSIFICATION_ROWS = [
  ["n", "Rows"], ["accuracy", "Accuracy"], ["precision", "Precision"], ["recall", "Recall (true positive rate)"],
  ["fpr", "False positive rate"], ["fnr", "False negative rate"],
];
const BINARY_COUNTS = [["tp", "True positives"], ["fp", "False positives"], ["tn", "True negatives"], ["fn", "False negatives"]];
const REGRESSION_ROWS = [
  ["n", "Rows"], ["mae", "Mean absolute error (MAE)"], ["rmse", "Root mean squared error (RMSE)"], ["r2", "R²"],
  ["mean_prediction", "Mean prediction"],
];

export function cohortMetrics(cohort) {
  return S.task === "classification"
    ? classificationMetrics(S.yTrue, S.yPred, cohort.idx, S.classes)
    : regressionMetrics(S.yTrue, S.yPred, cohort.idx);
}

export function renderPerformance() {
  const cohorts = comparedCohorts();
  const metrics = cohorts.map(cohortMetrics);
  let rows = REGRESSION_ROWS;
  if (S.task === "classification") {
    rows = S.binary ? [...CLASSIFICATION_ROWS, ...BINARY_COUNTS] : CLASSIFICATION_ROWS;
    $("#metrics-note").textContent = S.binary
      ? `Positive class: "${S.classes[1]}". Precision, recall, FPR and FNR are for that class. n/a: nothing to divide by in this cohort.`
      : "Precision, recall, FPR and FNR are macro averages: each class against the rest, then the unweighted mean over the classes where the ratio is defined (n/a when none is).";
  } else {
    $("#metrics-note").textContent = "R² is n/a for fewer than two rows or a constant true value.";
  }
  const head = `<tr><th scope="col">Metric</th>${cohorts.map((c) => `<th scope="col" data-cohort="${esc(c.name)}">${esc(c.name)}</th>`).join("")}</tr>`;
  const body = rows.map(([key, label]) => `<tr data-metric="${key}"><th scope="row">${esc(label)}</th>${metrics.map((m, k) => {
    const v = m[key];
    return `<td class="num" data-metric="${key}" data-cohort="${esc(cohorts[k].name)}" data-value="${v === null ? "" : v}">${v === null ? "n/a" : esc(Number.isInteger(v) ? String(v) : v.toFixed(4))}</td>`;
  }).join("")}</tr>`).join("");
  $("#metrics").innerHTML = `<table class="data" id="metrics-table"><caption>Performance on the evaluation sample, per cohort</caption><thead>${head}</thead><tbody>${body}</tbody></table>`;

  const dist = $("#distribution");
  dist.replaceChildren(distributionChart(cohorts));
  renderReport();
}

function share(counts, n) {
  return counts.map((c) => (n ? (100 * c) / n : 0));
}

function distributionChart(cohorts) {
  const series = (values) => cohorts.map((c, k) => ({ name: c.name, color: cohortColor(c.id), values: values(c, k) }));
  if (S.task === "classification" && S.binary && S.hasProba) {
    const probs = field(`p:${S.classes[1]}`).values;
    const labels = Array.from({ length: 10 }, (_, b) => `${(b / 10).toFixed(1)}–${((b + 1) / 10).toFixed(1)}`);
    return columnChart({
      title: `Prediction distribution: probability of "${S.classes[1]}"`, summary: "Share of each cohort's rows per probability bin.",
      labels, xLabel: `Predicted probability of ${S.classes[1]}`, yLabel: "% of cohort rows", yFormat: (v) => `${fmt(v, 3)}%`,
      series: series((c) => share(histogram(probs, c.idx, 0, 1, 10).counts, c.idx.length)),
    });
  }
  if (S.task === "classification") {
    return columnChart({
      title: "Prediction distribution: predicted class", summary: "Share of each cohort's rows predicted as each class.",
      labels: S.classes, xLabel: "Predicted class", yLabel: "% of cohort rows", yFormat: (v) => `${fmt(v, 3)}%`,
      series: series((c) => share(S.classes.map((cls) => c.idx.reduce((s, i) => s + (S.yPred[i] === cls), 0)), c.idx.length)),
    });
  }
  const [lo, hi] = extent(S.yPred);
  const bins = 20;
  const { edges } = histogram(S.yPred, [], lo, hi, bins);
  return columnChart({
    title: "Prediction distribution: predicted value", summary: "Share of each cohort's rows per bin of predicted value.",
    labels: edges.slice(0, -1).map((e, b) => `${fmt(e, 3)} to ${fmt(edges[b + 1], 3)}`), xLabel: "Predicted value",
    yLabel: "% of cohort rows", yFormat: (v) => `${fmt(v, 3)}%`,
    series: series((c) => share(histogram(S.yPred, c.idx, lo, hi, bins).counts, c.idx.length)),
  });
}

function flatten(obj, prefix = "", depth = 0, out = []) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && depth < 3) flatten(v, key, depth + 1, out);
    else if (v === null || ["number", "string", "boolean"].includes(typeof v)) out.push([key, v]);
  }
  return out;
}

function renderReport() {
  const entries = flatten(S.report);
  $("#report").innerHTML = entries.length
    ? `<details><summary>Figures recorded at training time (the bundle's report)</summary>${tableHtml(["Entry", "Value"], entries)}</details>`
    : "";
}

// -- dataset explorer ---------------------------------------------------------------------------
export function defaultScatter() {
  const feats = [...S.fields.values()].filter((f) => f.group === "Features");
  const byImportance = importanceOrder();
  const first = byImportance.length ? `f:${byImportance[0]}` : feats[0]?.id;
  const second = byImportance.length > 1 ? `f:${byImportance[1]}` : feats[1]?.id ?? first;
  const y = S.task === "classification" ? (S.hasProba ? `p:${S.binary ? S.classes[1] : S.classes[0]}` : second) : "pred";
  S.scatter = { x: first, y, color: "true" };
}

export function renderExplorer(ctx) {
  if (!S.scatter.x) defaultScatter();
  $("#scatter-x").innerHTML = fieldOptions(S.scatter.x);
  $("#scatter-y").innerHTML = fieldOptions(S.scatter.y);
  $("#scatter-color").innerHTML = fieldOptions(S.scatter.color, { none: true });
  const x = field(S.scatter.x), y = field(S.scatter.y), color = S.scatter.color ? field(S.scatter.color) : null;
  const panels = comparedCohorts().map((c) => ({ name: c.name, idx: c.idx, color: cohortColor(c.id) }));
  const cols = [["x", x], ["y", y], ...(color ? [["c", color]] : [])];
  $("#scatter").replaceChildren(scatterChart({
    title: `${y.label} against ${x.label}`, summary: `${panels.length} cohort(s) side by side; colour: ${color ? color.label : "cohort"}.`,
    panels, x, y, color, selected: S.selected, tableColumns: cols,
    onPick: (i) => ctx.interact("pick row in scatter", () => ctx.selectRow(i)),
  }));
}

// -- aggregate feature importance ---------------------------------------------------------------
export function importanceOrder() {
  const expl = explanation();
  if (!expl) return [];
  const all = S.cohorts[0];
  const imp = meanAbsAttribution(expl.values, all.idx, expl.feature_names.length, outputOf(expl));
  return expl.feature_names.map((name, j) => [name, imp[j]]).sort((a, b) => b[1] - a[1]).map(([name]) => name);
}

function explainedOutputLabel(expl) {
  const what = S.task !== "classification" ? "the prediction"
    : S.target === "predicted" ? "each row's predicted class" : `class "${S.target}"`;
  return `${what}, in ${spaceLabel(expl.space)} space`;
}

export function renderImportance(ctx) {
  const expl = explanation();
  const out = $("#importance");
  if (!expl) {
    out.innerHTML = `<p class="muted">The sample holds no attributions at the ${esc(S.level)} level.</p>`;
    $("#dependence").innerHTML = "";
    return;
  }
  const m = expl.feature_names.length;
  const slider = $("#topk");
  slider.max = String(m);
  S.topK = Math.min(Math.max(1, S.topK), m);
  slider.value = String(S.topK);
  $("#topk-value").textContent = String(S.topK);
  const cohorts = comparedCohorts();
  const pick = outputOf(expl);
  const imps = cohorts.map((c) => meanAbsAttribution(expl.values, c.idx, m, pick));
  const order = [...Array(m).keys()].sort((a, b) => imps[0][b] - imps[0][a]).slice(0, S.topK);
  const labels = order.map((j) => expl.feature_names[j]);
  const chart = barChart({
    title: `Top ${S.topK} features by mean |attribution| (${S.level} level)`,
    summary: `Explaining ${explainedOutputLabel(expl)}; ordered by the first cohort.`,
    labels, xLabel: `Mean |attribution| to ${explainedOutputLabel(expl)}`,
    series: cohorts.map((c, k) => ({ name: c.name, color: cohortColor(c.id), values: order.map((j) => imps[k][j]) })),
    selected: labels.indexOf(S.depFeature),
    onSelect: (i) => ctx.interact("open dependence plot", () => { S.depFeature = labels[i]; }),
  });
  chart.id = "importance-chart";
  out.replaceChildren(chart);
  renderDependence(ctx, expl, cohorts, pick);
}

function renderDependence(ctx, expl, cohorts, pick) {
  const box = $("#dependence");
  const j = expl.feature_names.indexOf(S.depFeature);
  if (j < 0) {
    box.innerHTML = `<p class="muted">Click a feature above to see its dependence plot.</p>`;
    return;
  }
  const name = S.depFeature;
  let x;
  if (expl.level === "engineered" && expl.data) {
    x = { label: `${name} (engineered value)`, kind: "number", values: expl.data.map((r) => r[j]) };
  } else if (field(`f:${name}`)) {
    const f = field(`f:${name}`);
    x = { label: name, kind: f.kind, values: f.values, categories: f.categories };
  } else {
    box.innerHTML = `<p class="muted">The sample holds no values of ${esc(name)} to plot against.</p>`;
    return;
  }
  const y = { label: `Attribution of ${name}`, kind: "number", values: expl.values.map((r, i) => r[j][pick(i)]) };
  const chart = scatterChart({
    title: `Dependence plot: ${name}`, summary: `The feature's value against its attribution to ${explainedOutputLabel(expl)}.`,
    panels: cohorts.map((c) => ({ name: c.name, idx: c.idx, color: cohortColor(c.id) })), x, y, selected: S.selected,
    onPick: (i) => ctx.interact("pick row in dependence plot", () => ctx.selectRow(i)),
  });
  chart.id = "dependence-chart";
  box.replaceChildren(chart);
}
