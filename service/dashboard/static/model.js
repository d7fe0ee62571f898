// The page's state and the data model built from GET data: fields (columns a cohort can filter
// on or a chart can plot), cohorts, explanations, and rows in the form POST /predict takes.

import { applyFilters } from "./metrics.js";

export const MAX_COMPARED = 3;

export const S = {
  model: null, report: null, sample: null, omitted: null, n: 0,
  task: "classification", classes: [], classValues: [], binary: false, hasProba: false,
  features: [], fields: new Map(), yTrue: [], yPred: [],
  cohorts: [], nextCohortId: 1, compared: [],
  tab: "cohorts", level: "raw", target: "predicted", topK: 10, depFeature: null,
  scatter: { x: null, y: null, color: null },
  rowCohort: 0, rowPage: 0, selected: null,
  draftFilters: [],
  whatIf: null, // {values: {feature: value}, result, error}
  ice: { feature: null, points: 25, useEdits: false, result: null, error: null },
};

const NUMERIC = new Set(["number", "integer"]);

export function isNumericFeature(f) {
  return NUMERIC.has(f.kind);
}

function asCategory(v) {
  return v === null || v === undefined ? null : String(v);
}

export function init(data) {
  S.model = data.model;
  S.report = data.report ?? {};
  S.sample = data.sample ?? { omitted: "the service sent no sample" };
  S.omitted = S.sample.omitted ?? null;
  S.n = S.omitted ? 0 : S.sample.n_rows;
  S.task = S.model.task;
  S.classValues = S.model.classes ?? [];
  S.classes = S.classValues.map(String);
  S.binary = S.task === "classification" && S.classes.length === 2;
  S.hasProba = !S.omitted && Array.isArray(S.sample.probabilities);
  S.features = S.model.features;
  const levels = S.model.levels ?? ["raw"];
  S.level = levels.includes("raw") ? "raw" : levels[0];
  S.target = S.task === "classification" ? (S.binary ? S.classes[1] : "predicted") : "predicted";

  const classification = S.task === "classification";
  S.yTrue = S.omitted ? [] : S.sample.y_true.map(classification ? asCategory : Number);
  S.yPred = S.omitted ? [] : S.sample.y_pred.map(classification ? asCategory : Number);
  buildFields();
  S.cohorts = [{ id: 0, name: "All data", filters: [], idx: Int32Array.from({ length: S.n }, (_, i) => i) }];
  S.compared = [0];
  S.topK = Math.min(10, S.features.length);
  S.ice.feature = S.features[0]?.name ?? null;
}

function addField(field) {
  S.fields.set(field.id, field);
}

function buildFields() {
  S.fields = new Map();
  const cols = S.omitted ? {} : S.sample.columns;
  for (const f of S.features) {
    const raw = cols[f.name] ?? [];
    if (isNumericFeature(f)) {
      addField({ id: `f:${f.name}`, label: f.name, kind: "number", group: "Features", values: raw });
    } else {
      const seen = f.kind === "boolean" ? ["false", "true"] : (f.categories ?? []).map(String);
      const values = raw.map(asCategory);
      const extra = [...new Set(values.filter((v) => v !== null && !seen.includes(v)))];
      addField({ id: `f:${f.name}`, label: f.name, kind: "category", group: "Features", values, categories: [...seen, ...extra] });
    }
  }
  const target = S.model.target || "target";
  if (S.task === "classification") {
    addField({ id: "pred", label: "Predicted class", kind: "category", group: "Model", values: S.yPred, categories: S.classes });
    addField({ id: "true", label: `True label (${target})`, kind: "category", group: "Model", values: S.yTrue, categories: S.classes });
    addField({
      id: "error", label: "Error (correct / incorrect)", kind: "category", group: "Model",
      values: S.yPred.map((p, i) => (p === S.yTrue[i] ? "correct" : "incorrect")), categories: ["correct", "incorrect"],
    });
    if (S.hasProba) {
      S.classes.forEach((c, k) => addField({
        id: `p:${c}`, label: `Probability of ${c}`, kind: "number", group: "Model",
        values: S.sample.probabilities.map((p) => p[k]),
      }));
    }
  } else {
    addField({ id: "pred", label: "Predicted value", kind: "number", group: "Model", values: S.yPred });
    addField({ id: "true", label: `True value (${target})`, kind: "number", group: "Model", values: S.yTrue });
    addField({ id: "error", label: "Error (predicted − true)", kind: "number", group: "Model", values: S.yPred.map((p, i) => p - S.yTrue[i]) });
    addField({ id: "abs_error", label: "Absolute error", kind: "number", group: "Model", values: S.yPred.map((p, i) => Math.abs(p - S.yTrue[i])) });
  }
}

export const field = (id) => S.fields.get(id);
export const fieldValues = (id) => S.fields.get(id).values;

// -- cohorts ------------------------------------------------------------------------------------
export function cohortRows(filters) {
  return applyFilters(filters, S.n, fieldValues);
}

export function addCohort(name, filters) {
  const cohort = { id: S.nextCohortId++, name, filters, idx: cohortRows(filters) };
  S.cohorts.push(cohort);
  if (S.compared.length < MAX_COMPARED) S.compared.push(cohort.id);
  return cohort;
}

export function removeCohort(id) {
  S.cohorts = S.cohorts.filter((c) => c.id !== id);
  S.compared = S.compared.filter((c) => c !== id);
  if (!S.compared.length) S.compared = [0];
}

export const cohortById = (id) => S.cohorts.find((c) => c.id === id);
export const comparedCohorts = () => S.compared.map(cohortById).filter(Boolean);

export function describeFilter(f) {
  return `${field(f.field)?.label ?? f.field} ${f.op} ${f.value}`;
}

// -- explanations -------------------------------------------------------------------------------
export function explanation(level = S.level) {
  return S.omitted ? null : (S.sample.explanations ?? {})[level] ?? null;
}

// The output index each row is explained for at the current target.
export function outputOf(expl) {
  const names = expl.output_names.map(String);
  if (S.task !== "classification") return () => 0;
  if (S.target !== "predicted") {
    const k = names.indexOf(S.target);
    return () => (k < 0 ? 0 : k);
  }
  const lookup = new Map(names.map((n, k) => [n, k]));
  return (i) => lookup.get(S.yPred[i]) ?? 0;
}

// The value the API expects for `target`: the class as the schema holds it, or "predicted".
export function apiTarget() {
  if (S.target === "predicted") return "predicted";
  const k = S.classes.indexOf(S.target);
  return k < 0 ? S.target : S.classValues[k];
}

export function spaceLabel(space) {
  return { probability: "probability", log_odds: "log-odds", raw: "the model's raw output" }[space] ?? space;
}

// -- rows for the API ---------------------------------------------------------------------------
export function sampleRow(i) {
  const row = {};
  for (const f of S.features) row[f.name] = S.sample.columns[f.name][i];
  return row;
}

// A row from the schema alone (middle of each range, first category), when there is no sample.
export function schemaRow() {
  const row = {};
  for (const f of S.features) {
    if (f.kind === "boolean") row[f.name] = false;
    else if (f.kind === "category") row[f.name] = f.categories?.[0] ?? null;
    else {
      const lo = f.minimum ?? 0, hi = f.maximum ?? lo;
      row[f.name] = f.kind === "integer" ? Math.round((lo + hi) / 2) : (lo + hi) / 2;
    }
  }
  return row;
}

// The row the individual tabs work on: the selected sample row, or the schema's row if no sample.
export function baseRow() {
  if (S.selected !== null) return sampleRow(S.selected);
  return S.omitted ? schemaRow() : null;
}

// Observed range of a numeric feature: over the sample, else the schema's training range.
export function featureRange(f) {
  const values = S.omitted ? [] : S.sample.columns[f.name].filter((v) => v !== null);
  if (values.length) return [Math.min(...values), Math.max(...values)];
  return [f.minimum ?? 0, f.maximum ?? 1];
}
