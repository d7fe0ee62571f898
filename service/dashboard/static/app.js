// The dashboard's entry point: loads GET data, draws the toolbar and tabs, and times every
// interaction (window.__dashboard.timings, in ms, from the event to the laid-out page).

import { esc } from "./charts.js";
import { init, MAX_COMPARED, S, spaceLabel } from "./model.js";
import {
  cohortColor, draftFilter, renderCohorts, renderExplorer, renderImportance, renderPerformance,
  saveCohort, updateFilterControls,
} from "./views-data.js";
import { renderIce, renderIndividual, renderWhatIf } from "./views-row.js";

const $ = (sel) => document.querySelector(sel);
const dash = (window.__dashboard = { ready: false, timings: [], errors: [] });

const RENDER = {
  cohorts: renderCohorts, performance: renderPerformance, explorer: renderExplorer,
  importance: renderImportance, individual: renderIndividual, whatif: renderWhatIf, ice: renderIce,
};
const NEEDS_SAMPLE = new Set(["cohorts", "performance", "explorer", "importance", "individual"]);

function status(message, isError = false) {
  const el = $("#status");
  el.textContent = message;
  el.classList.toggle("error", isError);
}

// Run `fn` (sync or async), redraw, force layout, and record how long it all took.
async function interact(name, fn) {
  const t0 = performance.now();
  try {
    await fn();
    render();
  } catch (e) {
    console.error(e);
    dash.errors.push(`${name}: ${e.message}`);
    status(`${name} failed: ${e.message}`, true);
  }
  void document.body.offsetHeight;
  dash.timings.push({ name, ms: performance.now() - t0 });
}

function selectRow(i) {
  S.selected = i;
  S.whatIf = null;
  S.ice.result = null;
  S.ice.error = null;
  status(`Selected sample row ${i}.`);
}

const ctx = { interact, selectRow };

function render() {
  renderToolbar();
  RENDER[S.tab](ctx);
}

// -- toolbar ------------------------------------------------------------------------------------
function renderToolbar() {
  const list = $("#compare-list");
  list.innerHTML = S.omitted
    ? `<span class="muted">No sample, so no cohorts.</span>`
    : S.cohorts.map((c) => {
      const on = S.compared.includes(c.id);
      return `<label class="cohort-chip"><input type="checkbox" data-cohort="${c.id}"${on ? " checked" : ""}>
        <span class="swatch${on ? "" : " off"}" data-color="${on ? cohortColor(c.id) : ""}"></span>${esc(c.name)} <span class="muted">(${c.idx.length})</span></label>`;
    }).join("");
  list.querySelectorAll(".swatch").forEach((s) => { if (s.dataset.color) s.style.background = s.dataset.color; });
  const sel = S.selected === null ? "none" : String(S.selected);
  $("#selected-note").innerHTML = `Selected row: <strong id="selected-row" data-row="${S.selected ?? ""}">${sel}</strong>`;
}

function toggleCompared(id, on) {
  if (on && !S.compared.includes(id)) {
    if (S.compared.length >= MAX_COMPARED) {
      status(`At most ${MAX_COMPARED} cohorts can be compared; untick one first.`, true);
      return;
    }
    S.compared.push(id);
  } else if (!on) {
    if (S.compared.length === 1) {
      status("Keep at least one cohort ticked.", true);
      return;
    }
    S.compared = S.compared.filter((c) => c !== id);
  }
}

function setupSettings() {
  $("#level").innerHTML = (S.model.levels ?? ["raw"]).map((l) => `<option value="${l}"${l === S.level ? " selected" : ""}>${l === "raw" ? "raw (the columns sent)" : "engineered (the model's inputs)"}</option>`).join("");
  const target = $("#target");
  if (S.task === "classification") {
    target.innerHTML = `<option value="predicted">each row's predicted class</option>${S.classes.map((c) => `<option value="${esc(c)}">class ${esc(c)}</option>`).join("")}`;
    target.value = S.target;
  } else {
    target.innerHTML = `<option value="predicted">the prediction</option>`;
    target.disabled = true;
  }
}

// -- tabs ---------------------------------------------------------------------------------------
function showTab(name) {
  S.tab = name;
  for (const b of document.querySelectorAll("[role=tab]")) {
    const on = b.dataset.tab === name;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
    $(`#${b.getAttribute("aria-controls")}`).hidden = !on;
  }
  history.replaceState(null, "", `#${name}`);
  render();
}

function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  tabs.forEach((b, k) => {
    b.addEventListener("click", () => interact(`open tab ${b.dataset.tab}`, () => showTab(b.dataset.tab)));
    b.addEventListener("keydown", (ev) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
      if (!step) return;
      const next = tabs[(k + step + tabs.length) % tabs.length];
      next.focus();
      interact(`open tab ${next.dataset.tab}`, () => showTab(next.dataset.tab));
    });
  });
}

// -- static controls ----------------------------------------------------------------------------
function wire() {
  $("#compare-list").addEventListener("change", (ev) => {
    const box = ev.target.closest("input[data-cohort]");
    if (box) interact("compare cohorts", () => toggleCompared(Number(box.dataset.cohort), box.checked));
  });
  $("#level").addEventListener("change", (ev) => interact("change level", () => { S.level = ev.target.value; S.whatIf = S.whatIf && { ...S.whatIf, result: null }; }));
  $("#target").addEventListener("change", (ev) => interact("change explained output", () => { S.target = ev.target.value; }));

  $("#filter-field").addEventListener("change", () => updateFilterControls());
  $("#add-filter").addEventListener("click", () => interact("add filter", () => {
    const { filter, error } = draftFilter();
    $("#cohort-error").textContent = error ?? "";
    if (filter) {
      S.draftFilters.push(filter);
      $("#filter-value").value = "";
    }
  }));
  $("#cohort-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    interact("save cohort", () => {
      const problem = saveCohort();
      $("#cohort-error").textContent = problem;
    });
  });

  for (const axis of ["x", "y", "color"]) {
    $(`#scatter-${axis}`).addEventListener("change", (ev) => interact(`scatter ${axis} axis`, () => { S.scatter[axis] = ev.target.value || null; }));
  }
  $("#topk").addEventListener("input", (ev) => interact("top-k slider", () => { S.topK = Number(ev.target.value); }));
  $("#row-cohort").addEventListener("change", (ev) => interact("row table cohort", () => { S.rowCohort = Number(ev.target.value); S.rowPage = 0; }));
  $("#row-goto-btn").addEventListener("click", () => interact("go to row", () => {
    const i = Number($("#row-goto").value);
    if (Number.isInteger(i) && i >= 0 && i < S.n) selectRow(i);
    else status(`Enter a sample row between 0 and ${S.n - 1}.`, true);
  }));
}

function describeModel() {
  const m = S.model;
  $("#model-name").textContent = m.name ? `— ${m.name}` : "";
  const classes = S.task === "classification" ? ` of ${S.classes.length} classes (${S.classes.join(", ")})` : "";
  const sample = S.omitted
    ? "No evaluation sample is stored in this bundle."
    : `Evaluation sample: ${S.n} rows${S.sample.n_source_rows > S.n ? ` drawn at random (seed ${S.sample.seed}) from ${S.sample.n_source_rows}` : ""}.`;
  $("#model-summary").textContent = `${S.task[0].toUpperCase()}${S.task.slice(1)}${classes}, ${S.features.length} features; attributions by the ${m.method} method in ${spaceLabel(m.space)} space. ${sample}`;
  if (S.omitted) {
    for (const panel of document.querySelectorAll("[role=tabpanel]")) {
      if (!NEEDS_SAMPLE.has(panel.id.replace("panel-", ""))) continue;
      const note = panel.querySelector(".omitted-note");
      note.hidden = false;
      note.textContent = `This tab is empty: it needs the evaluation sample, and this bundle has none (${S.omitted}). What-if and ICE still work, from a row made from the schema's ranges.`;
      panel.querySelector(".needs-sample").hidden = true;
    }
  }
}

async function main() {
  const t0 = performance.now();
  let t1, t2;
  try {
    const res = await fetch("data");
    if (!res.ok) throw new Error(`GET data answered ${res.status}`);
    const text = await res.text();
    t1 = performance.now();
    init(JSON.parse(text));
    t2 = performance.now();
  } catch (e) {
    status(`Could not load the dashboard's data: ${e.message}`, true);
    dash.errors.push(String(e));
    return;
  }
  describeModel();
  setupSettings();
  setupTabs();
  wire();
  const start = location.hash.slice(1);
  showTab(start in RENDER ? start : "cohorts");
  void document.body.offsetHeight;
  const t3 = performance.now();
  // ms: since navigation start, fetching GET data, parsing it and building the model, first tab
  dash.load = { ready: t3, fetch: t1 - t0, parse: t2 - t1, render: t3 - t2 };
  dash.ready = true;
  document.body.dataset.ready = "true";
}

main();
