// Pure computations over the sample: cohort filters, performance metrics, importance, histograms.
// Labels are compared as strings; `idx` is always an Int32Array of sample row positions.

export const OPS = {
  number: [
    ["<", "less than"], ["<=", "at most"], [">", "greater than"], [">=", "at least"],
    ["=", "equal to"], ["!=", "not equal to"],
  ],
  category: [["is", "is"], ["is not", "is not"]],
};

function test(op, v, target) {
  if (v === null || v === undefined) return false;
  switch (op) {
    case "<": return v < target;
    case "<=": return v <= target;
    case ">": return v > target;
    case ">=": return v >= target;
    case "=": return v === target;
    case "!=": return v !== target;
    case "is": return v === target;
    case "is not": return v !== target;
    default: throw new Error(`unknown operator ${op}`);
  }
}

// Positions of the rows where every filter holds; `fieldValues(id)` gives a field's column.
export function applyFilters(filters, n, fieldValues) {
  const cols = filters.map((f) => fieldValues(f.field));
  const out = new Int32Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    let keep = true;
    for (let f = 0; f < filters.length; f++) {
      if (!test(filters[f].op, cols[f][i], filters[f].value)) { keep = false; break; }
    }
    if (keep) out[m++] = i;
  }
  return out.slice(0, m);
}

const ratio = (a, b) => (b === 0 ? null : a / b);

function mean(xs) {
  const defined = xs.filter((x) => x !== null);
  return defined.length ? defined.reduce((s, x) => s + x, 0) / defined.length : null;
}

// Binary: the positive class is classes[1]. More classes: one-vs-rest per class, then the
// unweighted (macro) mean over the classes where the ratio is defined. A ratio with a zero
// denominator is undefined (null), never 0.
export function classificationMetrics(yTrue, yPred, idx, classes) {
  const n = idx.length;
  let correct = 0;
  for (const i of idx) if (yTrue[i] === yPred[i]) correct++;
  const perClass = classes.map((c) => {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    for (const i of idx) {
      const t = yTrue[i] === c, p = yPred[i] === c;
      if (t && p) tp++; else if (p) fp++; else if (t) fn++; else tn++;
    }
    return {
      tp, fp, fn, tn,
      precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn),
      fpr: ratio(fp, fp + tn), fnr: ratio(fn, fn + tp),
    };
  });
  const out = { n, accuracy: ratio(correct, n) };
  if (classes.length === 2) {
    const pos = perClass[1];
    Object.assign(out, {
      averaging: "binary", precision: pos.precision, recall: pos.recall, fpr: pos.fpr, fnr: pos.fnr,
      tp: pos.tp, fp: pos.fp, tn: pos.tn, fn: pos.fn,
    });
  } else {
    out.averaging = "macro";
    for (const key of ["precision", "recall", "fpr", "fnr"]) out[key] = mean(perClass.map((m) => m[key]));
  }
  return out;
}

// MAE, RMSE and R² (undefined for fewer than two rows or a constant true value).
export function regressionMetrics(yTrue, yPred, idx) {
  const n = idx.length;
  if (n === 0) return { n, mae: null, rmse: null, r2: null, mean_prediction: null };
  let abs = 0, sq = 0, sumT = 0, sumP = 0;
  for (const i of idx) {
    const e = yPred[i] - yTrue[i];
    abs += Math.abs(e); sq += e * e; sumT += yTrue[i]; sumP += yPred[i];
  }
  const meanT = sumT / n;
  let tot = 0;
  for (const i of idx) tot += (yTrue[i] - meanT) ** 2;
  return {
    n, mae: abs / n, rmse: Math.sqrt(sq / n),
    r2: n < 2 || tot === 0 ? null : 1 - sq / tot, mean_prediction: sumP / n,
  };
}

// Mean |attribution| of every feature over the rows `idx`; `outputOf(i)` picks the output index.
export function meanAbsAttribution(values, idx, nFeatures, outputOf) {
  const sums = new Float64Array(nFeatures);
  for (const i of idx) {
    const row = values[i], k = outputOf(i);
    for (let j = 0; j < nFeatures; j++) sums[j] += Math.abs(row[j][k]);
  }
  return Array.from(sums, (s) => (idx.length ? s / idx.length : 0));
}

// Equal-width bins over [lo, hi]; returns {edges, counts}.
export function histogram(values, idx, lo, hi, bins) {
  const counts = new Array(bins).fill(0);
  const width = (hi - lo) / bins || 1;
  for (const i of idx) {
    const v = values[i];
    if (v === null || Number.isNaN(v)) continue;
    let b = Math.floor((v - lo) / width);
    if (b >= bins) b = bins - 1;
    if (b < 0) b = 0;
    counts[b]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, b) => lo + b * width);
  return { edges, counts };
}

export function extent(values, idx) {
  let lo = Infinity, hi = -Infinity;
  for (const i of idx ?? values.keys()) {
    const v = values[i];
    if (v === null || Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

// Grid of `points` values across [lo, hi]; integers give distinct whole numbers.
export function grid(lo, hi, points, integer) {
  if (hi <= lo) return [lo];
  if (integer) {
    const a = Math.ceil(lo), b = Math.floor(hi);
    if (b - a + 1 <= points) return Array.from({ length: b - a + 1 }, (_, t) => a + t);
    return [...new Set(Array.from({ length: points }, (_, t) => Math.round(a + (t * (b - a)) / (points - 1))))];
  }
  return Array.from({ length: points }, (_, t) => lo + (t * (hi - lo)) / (points - 1));
}
