/* evald's dashboard: the overview of streams, and a stream's curves, threshold,
   metrics over time, calibration and drift. It reads evald's JSON endpoints
   (/streams, /snapshot, /series) and nothing else. */
"use strict";

const $ = (id) => document.getElementById(id);
const DASH = "\u2014"; /* an undefined value: never shown as 0 */
const REFRESH_MS = 5000;
const state = {
  route: null, stream: null, window: "total", span: null, threshold: null,
  candidates: [], sort: { key: "name", asc: true }, streams: [], rows: [], timer: null,
  inflight: false,
};
const charts = {};
window.evaldCharts = charts; /* for tests and the curious: the Chart.js objects */

/* A number as shown: six significant digits, integers whole, nil and NaN as a dash. */
function fmt(v) {
  if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v))) return DASH;
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}
function fmtPair(p) { return p ? `[${fmt(p[0])}, ${fmt(p[1])}]` : DASH; }
function num(v) { return v === null || v === undefined ? NaN : v; }
function setText(id, text) { const e = $(id); if (e && e.textContent !== text) e.textContent = text; }

/* With [auth] tokens_file set, the endpoints need a read token: asked for once, on the
   first 401, and kept for this browser session only (sessionStorage). */
const TOKEN_KEY = "evald-token";
let asking = false;

function askToken(status) {
  if (asking) return false;
  asking = true;
  const t = window.prompt(status === 401 ? "evald needs a token with the read role:"
    : "That token lacks the read role. Another token:");
  asking = false;
  if (!t || !t.trim()) return false;
  sessionStorage.setItem(TOKEN_KEY, t.trim());
  return true;
}

async function getJSON(path) {
  for (let attempt = 0; ; attempt++) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const r = await fetch(path, { cache: "no-store",
      headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (r.status === 401 || r.status === 403) {
      if (r.status === 401) sessionStorage.removeItem(TOKEN_KEY);
      if (attempt === 0 && askToken(r.status)) continue;
      throw new Error(r.status === 401 ? "a token is needed" : "the token lacks the read role");
    }
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : `${r.status}`);
    return body;
  }
}

function status(text) { setText("status", text); }

/* ---- routing ---------------------------------------------------------- */

function route() {
  const m = location.hash.match(/^#\/stream\/(.+)$/);
  state.route = m ? "stream" : "overview";
  state.stream = m ? decodeURIComponent(m[1]) : null;
  $("overview").hidden = state.route !== "overview";
  $("stream").hidden = state.route !== "stream";
  setText("crumb", state.stream ? `/ ${state.stream}` : "");
  document.title = state.stream ? `${state.stream} \u2014 evald` : "evald";
  if (state.route === "stream") {
    state.window = "total";
    state.threshold = null;
    state.span = null;
  }
  refresh();
}

/* ---- overview --------------------------------------------------------- */

async function refreshOverview() {
  const listed = (await getJSON("/streams")).streams;
  state.streams = listed;
  const rows = await Promise.all(listed.map(async (s) => {
    const snap = await getJSON(`/snapshot?stream=${encodeURIComponent(s.name)}`);
    const first = snap.thresholds[0] || {};
    return {
      name: s.name, n: snap.n, positives: snap.positives,
      age: s.last_active ? Math.max(0, snap.to - s.last_active) : NaN,
      ap: num(snap.average_precision), apBounds: snap.average_precision_bounds,
      auc: num(snap.roc_auc), aucBounds: snap.roc_auc_bounds,
      threshold: first.threshold, precision: num(first.precision), recall: num(first.recall),
      coverage: s.labels ? num(s.labels.coverage) : NaN,
      pending: s.labels ? s.labels.pending : NaN,
      psi: s.drift ? num(s.drift.psi) : NaN, reference: s.drift ? s.drift.reference : null,
    };
  }));
  state.rows = rows;
  renderOverview();
}

function age(seconds) {
  if (Number.isNaN(seconds)) return DASH;
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

const COLUMNS = ["name", "n", "positives", "age", "ap", "auc", "precision", "recall", "coverage", "pending", "psi"];

function renderOverview() {
  const filter = $("filter").value.trim().toLowerCase();
  const { key, asc } = state.sort;
  const rows = state.rows.filter((r) => r.name.toLowerCase().includes(filter));
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    if (typeof x === "string") return asc ? x.localeCompare(y) : y.localeCompare(x);
    const nx = Number.isNaN(x) ? -Infinity : x, ny = Number.isNaN(y) ? -Infinity : y;
    return asc ? nx - ny : ny - nx;
  });
  const body = document.createElement("tbody");
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.stream = r.name;
    const cells = [
      [`<a href="#/stream/${encodeURIComponent(r.name)}"></a>`, r.name],
      [null, fmt(r.n)], [null, fmt(r.positives)], [null, age(r.age)],
      [null, fmt(r.ap), fmtPair(r.apBounds)], [null, fmt(r.auc), fmtPair(r.aucBounds)],
      [null, fmt(r.precision)], [null, fmt(r.recall)], [null, fmt(r.coverage)],
      [null, fmt(r.pending)], [null, fmt(r.psi), r.reference ? `vs ${r.reference}` : ""],
    ];
    cells.forEach(([html, text, small], i) => {
      const td = document.createElement("td");
      td.dataset.key = COLUMNS[i];
      if (i > 0) td.className = "num";
      if (html) {
        td.innerHTML = html;
        td.firstChild.textContent = text;
      } else {
        td.textContent = text;
      }
      if (small) {
        const s = document.createElement("div");
        s.className = "bounds";
        s.textContent = small;
        td.appendChild(s);
      }
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  $("streams").replaceChild(body, $("streams").tBodies[0]);
  $("empty").hidden = state.rows.length > 0;
  for (const th of document.querySelectorAll("#streams th")) {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("asc", th.dataset.key === key && asc);
  }
}

/* ---- a stream --------------------------------------------------------- */

const DURATIONS = [["1m", 60], ["5m", 300], ["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400]];

function windowsOf(s) {
  const ok = DURATIONS.filter(([, sec]) => s.window_max && sec <= s.window_max && sec % s.window_slot === 0);
  return [["total", 0], ...ok];
}

function fillSelect(select, options, current) {
  const key = options.map(([label]) => label).join(",");
  if (select.dataset.options !== key) {
    select.innerHTML = "";
    for (const [label] of options) {
      const o = document.createElement("option");
      o.value = o.textContent = label;
      select.appendChild(o);
    }
    select.dataset.options = key;
  }
  if (current !== null) select.value = current;
}

/* Per bin holding records: its lowest score and each class's weight, from the cumulative curve. */
function binsOf(curve) {
  const out = [];
  for (let i = 0; i < curve.threshold.length; i++) {
    out.push({
      x: curve.threshold[i],
      pos: curve.tp[i] - (i ? curve.tp[i - 1] : 0),
      neg: curve.fp[i] - (i ? curve.fp[i - 1] : 0),
    });
  }
  return out.reverse();
}

/* Bins gathered into at most 50 buckets of equal width over [lo, hi], for a readable histogram. */
function buckets(bins, lo, hi) {
  const k = 50, out = [];
  for (let i = 0; i < k; i++) out.push({ x: lo + ((i + 0.5) * (hi - lo)) / k, pos: 0, neg: 0 });
  for (const b of bins) {
    const i = Math.min(k - 1, Math.max(0, Math.floor(((b.x - lo) / (hi - lo)) * k)));
    out[i].pos += b.pos;
    out[i].neg += b.neg;
  }
  return out;
}

/* The thresholds whose counts are exact: the curve's, the configured ones and uniform bin edges. */
function candidatesOf(snap) {
  const set = new Set(snap.curve ? snap.curve.threshold : []);
  for (const row of snap.thresholds) if (row.exact) set.add(row.threshold);
  if (snap.spacing === "uniform") {
    const [lo, hi] = snap.range;
    for (let k = 0; k <= snap.bins; k++) set.add(k === snap.bins ? hi : lo + (k * (hi - lo)) / snap.bins);
  }
  return [...set].filter((t) => Number.isFinite(t)).sort((a, b) => a - b);
}

function nearest(list, t) {
  let best = 0;
  for (let i = 1; i < list.length; i++) if (Math.abs(list[i] - t) < Math.abs(list[best] - t)) best = i;
  return best;
}

function chart(id, type, datasets, options) {
  if (charts[id]) {
    const c = charts[id];
    datasets.forEach((d, i) => {
      if (c.data.datasets[i]) Object.assign(c.data.datasets[i], d);
      else c.data.datasets.push(d);
    });
    c.data.datasets.length = datasets.length;
    c.update("none");
    return c;
  }
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  Chart.defaults.color = dark ? "#98a3b3" : "#5f6b7a";
  Chart.defaults.borderColor = dark ? "#2c3440" : "#d9dee5";
  charts[id] = new Chart($(id), {
    type, data: { datasets },
    options: Object.assign({
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { labels: { boxWidth: 12 } } },
    }, options),
  });
  return charts[id];
}

const linear = (title, min, max) => ({ type: "linear", min, max, title: { display: !!title, text: title } });

function streamConfig() {
  return state.streams.find((s) => s.name === state.stream) || null;
}

async function refreshStream() {
  const listed = (await getJSON("/streams")).streams;
  state.streams = listed;
  const cfg = streamConfig();
  if (!cfg) {
    status(`no stream called '${state.stream}' (yet)`);
    return;
  }
  fillSelect($("window"), windowsOf(cfg), state.window);
  const q = `stream=${encodeURIComponent(state.stream)}&window=${state.window}`;
  const t = state.threshold;
  const snap = await getJSON(`/snapshot?${q}&curve=1&calibration=10` + (t === null ? "" : `&threshold=${t}`));
  state.candidates = candidatesOf(snap);
  if (state.threshold === null) state.threshold = snap.thresholds.length ? snap.thresholds[0].threshold : 0.5;
  renderHeadline(snap);
  renderCurves(snap);
  renderThreshold(snap);
  renderCalibration(snap);
  await renderDrift(cfg, snap);
  await renderSeries(cfg);
}

function renderHeadline(snap) {
  setText("headline", `n ${fmt(snap.n)} \u00b7 positives ${fmt(snap.positives)} \u00b7 negatives ${fmt(snap.negatives)}` +
    (snap.complete ? "" : " \u00b7 incomplete (memory)"));
  setText("ap", `AP ${fmt(snap.average_precision)} ${fmtPair(snap.average_precision_bounds)}`);
  setText("auc", `ROC-AUC ${fmt(snap.roc_auc)} ${fmtPair(snap.roc_auc_bounds)}, 95% CI ${fmtPair(snap.roc_auc_ci)}`);
}

function rowFor(snap, t) {
  const rows = snap.thresholds.filter((r) => r.threshold === t);
  return rows.length ? rows[rows.length - 1] : null;
}

function renderCurves(snap) {
  const c = snap.curve;
  const P = snap.positives, N = snap.negatives;
  const pr = c.threshold.map((_, i) => ({ x: c.recall[i], y: c.precision[i] }));
  const roc = [{ x: 0, y: 0 }, ...c.threshold.map((_, i) => ({ x: c.fpr[i], y: c.recall[i] }))];
  const row = rowFor(snap, state.threshold);
  const mark = (x, y) => (row && x !== null && y !== null ? [{ x, y }] : []);
  chart("pr", "scatter", [
    { label: "PR curve", data: P > 0 ? pr : [], showLine: true, pointRadius: 0, borderColor: "#2563eb", borderWidth: 2 },
    { label: "threshold", data: row ? mark(row.recall, row.precision) : [], pointRadius: 6, backgroundColor: "#e11d48" },
  ], { scales: { x: linear("recall", 0, 1), y: linear("precision", 0, 1) } });
  chart("roc", "scatter", [
    { label: "ROC curve", data: P > 0 && N > 0 ? roc : [], showLine: true, pointRadius: 0, borderColor: "#2563eb", borderWidth: 2 },
    { label: "chance", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, pointRadius: 0, borderDash: [4, 4], borderColor: "#9ca3af", borderWidth: 1 },
    { label: "threshold", data: row ? mark(row.fpr, row.recall) : [], pointRadius: 6, backgroundColor: "#e11d48" },
  ], { scales: { x: linear("false positive rate", 0, 1), y: linear("true positive rate", 0, 1) } });
}

function renderThreshold(snap) {
  const slider = $("slider");
  slider.max = String(Math.max(0, state.candidates.length - 1));
  if (document.activeElement !== slider) slider.value = String(nearest(state.candidates, state.threshold));
  if (document.activeElement !== $("threshold")) $("threshold").value = String(state.threshold);
  showRow(rowFor(snap, state.threshold));
}

function showRow(row) {
  const r = row || {};
  for (const k of ["tp", "fp", "tn", "fn", "precision", "recall", "f1", "fpr", "accuracy"]) setText(k, fmt(num(r[k])));
  setText("t-value", fmt(r.threshold));
  setText("t-exact", row ? (row.exact ? "exact" : "estimated") : "");
  $("t-exact").className = row && row.exact ? "exact" : "inexact";
  setText("precision-ci", fmtPair(r.precision_ci));
  setText("recall-ci", fmtPair(r.recall_ci));
  /* FPR's interval is one minus specificity's */
  setText("fpr-ci", r.specificity_ci ? fmtPair([1 - num(r.specificity_ci[1]), 1 - num(r.specificity_ci[0])]) : DASH);
}

let pending = null;
/* A threshold chosen: its row at once (the rest waits for the next refresh). */
function chooseThreshold(t) {
  state.threshold = t;
  $("threshold").value = String(t);
  clearTimeout(pending);
  pending = setTimeout(async () => {
    try {
      const q = `stream=${encodeURIComponent(state.stream)}&window=${state.window}&threshold=${t}`;
      const snap = await getJSON(`/snapshot?${q}`);
      if (state.threshold !== t) return;
      const row = rowFor(snap, t);
      showRow(row);
      const pr = charts.pr, roc = charts.roc;
      if (pr && row) { pr.data.datasets[1].data = [{ x: row.recall, y: row.precision }]; pr.update("none"); }
      if (roc && row) { roc.data.datasets[2].data = [{ x: row.fpr, y: row.recall }]; roc.update("none"); }
    } catch (e) {
      status(`evald: ${e.message}`);
    }
  }, 60);
}

function renderCalibration(snap) {
  const cal = snap.calibration;
  const bins = buckets(binsOf(snap.curve), snap.range[0], snap.range[1]);
  if (!cal) {
    setText("calib-figures", "none: the scores are not probabilities on [0, 1]");
  } else {
    setText("calib-figures", `Brier ${fmt(snap.brier)} \u00b7 log loss ${fmt(snap.log_loss)} \u00b7 ECE ${fmt(cal.ece)} ${fmtPair(cal.ece_bounds)}`);
  }
  chart("calibration", "scatter", [
    { label: "observed", data: cal ? cal.bins.map((g) => ({ x: g.mean_score, y: g.fraction_positive })) : [], showLine: true, borderColor: "#2563eb", pointRadius: 3 },
    { label: "perfect", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, pointRadius: 0, borderDash: [4, 4], borderColor: "#9ca3af", borderWidth: 1 },
  ], { scales: { x: linear("mean score", snap.range[0], snap.range[1]), y: linear("fraction positive", 0, 1) } });
  chart("histogram", "scatter", [
    { label: "positives", data: bins.map((b) => ({ x: b.x, y: b.pos })), showLine: true, pointRadius: 0, borderColor: "#16a34a", borderWidth: 1 },
    { label: "negatives", data: bins.map((b) => ({ x: b.x, y: b.neg })), showLine: true, pointRadius: 0, borderColor: "#dc2626", borderWidth: 1 },
  ], { scales: { x: linear("score", snap.range[0], snap.range[1]), y: linear("", 0) } });
}

async function renderDrift(cfg, snap) {
  const card = $("drift-card");
  card.hidden = !cfg.drift;
  if (!cfg.drift) return;
  const ref = await getJSON(`/snapshot?stream=${encodeURIComponent(cfg.drift.reference)}&curve=1`);
  const share = (bins) => {
    const total = bins.reduce((s, b) => s + b.pos + b.neg, 0);
    return bins.map((b) => ({ x: b.x, y: total ? (b.pos + b.neg) / total : 0 }));
  };
  setText("drift-figures", `vs ${cfg.drift.reference}: PSI ${fmt(cfg.drift.psi)} \u00b7 KS ${fmt(cfg.drift.ks)}`);
  chart("drift", "scatter", [
    { label: state.stream, data: share(buckets(binsOf(snap.curve), ...snap.range)), showLine: true, pointRadius: 0, borderColor: "#2563eb", borderWidth: 2 },
    { label: cfg.drift.reference, data: share(buckets(binsOf(ref.curve), ...ref.range)), showLine: true, pointRadius: 0, borderColor: "#9ca3af", borderWidth: 2 },
  ], { scales: { x: linear("score", snap.range[0], snap.range[1]), y: linear("share", 0) } });
}

function spansOf(cfg) {
  const spans = [["1h", 3600], ["6h", 21600], ["24h", 86400]].filter(([, s]) => cfg.window_max >= s);
  if (!spans.length && cfg.window_max) spans.push([`${cfg.window_max}s`, cfg.window_max]);
  return spans;
}

async function renderSeries(cfg) {
  const spans = spansOf(cfg);
  const card = $("span").closest(".card");
  card.hidden = !spans.length;
  if (!spans.length) return;
  if (!state.span || !spans.some(([label]) => label === state.span)) state.span = spans[0][0];
  fillSelect($("span"), spans, state.span);
  const seconds = spans.find(([label]) => label === state.span)[1];
  const slot = cfg.window_slot;
  const step = Math.max(slot, Math.ceil(seconds / 60 / slot) * slot);
  const window = Math.floor(seconds / step) * step;
  const series = await getJSON(`/series?stream=${encodeURIComponent(state.stream)}&window=${window}s&step=${step}s`);
  const at = (f) => series.points.map((p) => ({ x: p.to * 1000, y: f(p) }));
  const time = { type: "linear", ticks: { callback: (v) => new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) } };
  chart("over-ranking", "scatter", [
    { label: "AP", data: at((p) => num(p.average_precision)), showLine: true, pointRadius: 1, borderColor: "#2563eb", spanGaps: false },
    { label: "ROC-AUC", data: at((p) => num(p.roc_auc)), showLine: true, pointRadius: 1, borderColor: "#7c3aed", spanGaps: false },
  ], { scales: { x: time, y: linear("", 0, 1) } });
  const palette = ["#16a34a", "#dc2626", "#ea580c", "#0891b2"];
  const rates = [];
  (cfg.thresholds || []).forEach((t, i) => {
    rates.push({ label: `precision @${fmt(t)}`, data: at((p) => num(p.thresholds[i] && p.thresholds[i].precision)), showLine: true, pointRadius: 1, borderColor: palette[(2 * i) % 4] });
    rates.push({ label: `recall @${fmt(t)}`, data: at((p) => num(p.thresholds[i] && p.thresholds[i].recall)), showLine: true, pointRadius: 1, borderColor: palette[(2 * i + 1) % 4], borderDash: [4, 3] });
  });
  chart("over-rates", "scatter", rates, { scales: { x: time, y: linear("", 0, 1) } });
  const volume = [{ label: "records", data: at((p) => p.n), showLine: true, pointRadius: 1, borderColor: "#64748b", yAxisID: "y" }];
  if (cfg.labels) volume.push({ label: "label coverage", data: at((p) => num(p.coverage)), showLine: true, pointRadius: 1, borderColor: "#0891b2", yAxisID: "y1" });
  chart("over-volume", "scatter", volume, { scales: { x: time, y: linear("records", 0), y1: Object.assign(linear("coverage", 0, 1), { position: "right", display: !!cfg.labels }) } });
  if (cfg.drift) {
    chart("drift-time", "scatter", [
      { label: "PSI", data: at((p) => (p.drift ? num(p.drift.psi) : NaN)), showLine: true, pointRadius: 1, borderColor: "#2563eb" },
      { label: "KS", data: at((p) => (p.drift ? num(p.drift.ks) : NaN)), showLine: true, pointRadius: 1, borderColor: "#dc2626" },
      { label: "JS", data: at((p) => (p.drift ? num(p.drift.js) : NaN)), showLine: true, pointRadius: 1, borderColor: "#16a34a" },
    ], { scales: { x: time, y: linear("", 0) } });
  }
}

/* ---- refresh ---------------------------------------------------------- */

async function refresh() {
  if (state.inflight || document.hidden) return;
  state.inflight = true;
  try {
    if (state.route === "stream") await refreshStream();
    else await refreshOverview();
    status(`updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = String(Date.now()); /* for tests: a refresh completed */
  } catch (e) {
    status(`evald unreachable or refused: ${e.message}; retrying`);
  } finally {
    state.inflight = false;
  }
}

function start() {
  for (const th of document.querySelectorAll("#streams th")) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      state.sort = { key, asc: state.sort.key === key ? !state.sort.asc : key === "name" };
      renderOverview();
    });
  }
  $("filter").addEventListener("input", renderOverview);
  $("window").addEventListener("change", () => { state.window = $("window").value; refresh(); });
  $("span").addEventListener("change", () => { state.span = $("span").value; refresh(); });
  $("slider").addEventListener("input", () => {
    const t = state.candidates[Number($("slider").value)];
    if (t !== undefined) chooseThreshold(t);
  });
  $("threshold").addEventListener("change", () => {
    const t = Number($("threshold").value);
    if (Number.isFinite(t)) {
      $("slider").value = String(nearest(state.candidates, t));
      chooseThreshold(t);
    }
  });
  $("op-go").addEventListener("click", async () => {
    const kind = $("op-kind").value, target = Number($("op-target").value);
    try {
      const q = `stream=${encodeURIComponent(state.stream)}&window=${state.window}&${kind}=${target}`;
      const op = (await getJSON(`/snapshot?${q}`)).operating_points[kind][0];
      if (op.threshold === null) { status(`no threshold meets ${kind} ${kind === "fpr" ? "\u2264" : "\u2265"} ${target}`); return; }
      $("slider").value = String(nearest(state.candidates, op.threshold));
      chooseThreshold(op.threshold);
    } catch (e) {
      status(`evald: ${e.message}`);
    }
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  window.addEventListener("hashchange", route);
  state.timer = setInterval(refresh, REFRESH_MS);
  route();
}

start();
