/* kiln ui — the dashboard page. Plain browser JavaScript, no build step, no
 * network beyond this server. Text from run files is always set as text
 * (never parsed as HTML). Pages: #/ (runs), #/run/ID, #/compare?runs=A,B&baseline=A. */
/* global document, window, location, history, fetch, EventSource, uPlot, ResizeObserver, URLSearchParams */
"use strict";

const COLORS = ["#c2410c", "#1d4ed8", "#15803d", "#7c3aed", "#be185d", "#0e7490", "#a16207", "#4b5563", "#dc2626", "#2563eb"];
const main = document.getElementById("main");
const crumb = document.getElementById("crumb");
const liveDot = document.getElementById("live");

/** Cleanups of the page shown now (event streams, charts, timers). */
let cleanups = [];

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const Node = window.Node;

async function api(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

const fileUrl = (id, path, download) =>
  `/files/${id.split("/").map(encodeURIComponent).join("/")}/${path.split("/").map(encodeURIComponent).join("/")}${download ? "?download=1" : ""}`;

function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(digits);
}

function duration(s) {
  if (s === null || s === undefined) return "-";
  s = Math.round(s);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const p = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
}

function startText(iso) {
  if (!iso) return "-";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return "-";
  const p = (n) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}`;
}

/** Axis ticks with enough digits to tell them apart (a learning rate of 6.5e-4 is not "0.001"). */
function tick(v) {
  if (v === null) return "";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e5) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

const bytes = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
const badge = (status, label) => h("span", { class: `badge s-${status}`, text: label || status });
const bestText = (b) => (b ? `${b.key === "accuracy" ? "acc" : b.label} ${b.value.toFixed(4)}` : "-");
const epochsText = (r) => (r.epochsDone === null && r.epochsTotal === null ? "-" : `${r.epochsDone ?? 0}/${r.epochsTotal ?? "?"}`);

/**
 * An event stream, resolved once the server follows it: what a page fetches
 * after that cannot miss a change. Appends carry the index of their first
 * row and point, so a page skips what it already holds and reloads on a gap
 * (a reconnection after missed events). The live dot shows the connection.
 */
function stream(query, handlers) {
  return new Promise((resolve) => {
    const es = new EventSource(`/api/events?${query}`);
    es.onopen = () => { liveDot.className = "live on"; };
    es.onerror = () => { liveDot.className = "live off"; };
    es.addEventListener("ready", () => resolve(es), { once: true });
    for (const [name, fn] of Object.entries(handlers)) es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
    cleanups.push(() => { es.close(); liveDot.className = "live off"; });
  });
}

/** The part of an append a holder of `have` items lacks; null when some were missed. */
function fresh(items, from, have) {
  const skip = have - from;
  return skip < 0 ? null : items.slice(skip);
}

// ---------------------------------------------------------------- charts

/**
 * A uPlot line chart whose series can grow: `xs` and `ys[i]` are arrays the
 * caller appends to, then calls update(). The element's data-points says how
 * many points the chart holds (the end-to-end tests read it).
 */
function lineChart(container, title, xLabel, names, opts = {}) {
  const holder = h("div", { class: "chart", "data-chart": title, "data-points": "0" });
  container.append(holder);
  const data = [[], ...names.map(() => [])];
  const width = () => Math.max(300, holder.clientWidth || container.clientWidth || 600);
  const plot = new uPlot({
    width: width(),
    height: 240,
    title,
    scales: { x: { time: false }, y: opts.log ? { distr: 3 } : {} },
    axes: [{ label: xLabel, stroke: "#888" }, { stroke: "#888", size: 64, values: (u, ticks) => ticks.map(tick) }],
    // Dots only while a series is short (one epoch is one point; a line needs two).
    series: [{ label: xLabel }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
      value: (u, v) => fmt(v), points: { show: (u, si, i0, i1) => i1 - i0 < 40, size: 6 } }))],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  }, data, holder);
  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 240 }));
  ro.observe(holder);
  let dead = false;
  const destroy = () => {
    if (dead) return;
    dead = true;
    ro.disconnect();
    plot.destroy();
  };
  cleanups.push(destroy);
  const chart = {
    destroy,
    data,
    plot,
    holder,
    /** Adds points: [x, y0, y1, ...] per point. */
    push(points) {
      for (const p of points) for (let i = 0; i < data.length; i++) data[i].push(p[i] ?? null);
      chart.update();
    },
    reset() { for (const a of data) a.length = 0; chart.update(); },
    update() {
      plot.setData(data);
      holder.setAttribute("data-points", String(data[0].length));
    },
  };
  return chart;
}

/** Charts of a run's results.csv columns: losses, metrics, learning rate. */
const GROUPS = [
  { title: "losses per epoch", test: (c) => /loss/.test(c) },
  { title: "metrics per epoch", test: (c) => /^(val\/(acc|top5|f1)|train\/acc|metrics\/)/.test(c) },
  { title: "learning rate", test: (c) => /^lr\//.test(c) },
];

// ---------------------------------------------------------------- runs page

const SORTS = {
  name: { text: (r) => r.name },
  task: { text: (r) => r.task },
  model: { text: (r) => r.model ?? "\uffff" },
  data: { text: (r) => r.data ?? "\uffff" },
  status: { text: (r) => r.statusLabel },
  epochs: { num: (r) => r.epochsDone },
  best: { num: (r) => (r.best ? r.best.value : null) },
  duration: { num: (r) => r.durationSeconds },
  start: { num: (r) => (r.startedAt ? Date.parse(r.startedAt) : null) },
};

const runsView = { sort: "start", reversed: false, text: "", status: "", task: "", selected: new Set() };

function compareRows(a, b, key, reversed) {
  const s = SORTS[key];
  let d;
  if (s.num) {
    const x = s.num(a), y = s.num(b);
    if (x === null || y === null || Number.isNaN(x) || Number.isNaN(y)) {
      d = (x === null || Number.isNaN(x)) === (y === null || Number.isNaN(y)) ? 0 : (x === null || Number.isNaN(x)) ? 1 : -1;
      return d || a.id.localeCompare(b.id, "en", { numeric: true });
    }
    d = y - x; // highest first, as kiln runs --sort
  } else d = s.text(a).localeCompare(s.text(b), "en", { numeric: true });
  // Each key's natural order is kiln runs --sort's (names A→Z, numbers highest first); a second click reverses it.
  if (reversed) d = -d;
  return d || a.id.localeCompare(b.id, "en", { numeric: true });
}

async function runsPage() {
  crumb.textContent = "";
  const runs = new Map();
  const status = h("span", { class: "muted" });
  const search = h("input", { type: "search", placeholder: "filter: name, model, data…", value: runsView.text, id: "filter-text",
    oninput: (e) => { runsView.text = e.target.value; draw(); } });
  const statusSel = h("select", { id: "filter-status", onchange: (e) => { runsView.status = e.target.value; draw(); } },
    ["", "running", "finished", "interrupted", "failed", "died", "unknown", "unreadable"].map((s) => h("option", { value: s, selected: s === runsView.status }, s || "any status")));
  const taskSel = h("select", { id: "filter-task", onchange: (e) => { runsView.task = e.target.value; draw(); } },
    ["", "classify", "detect"].map((s) => h("option", { value: s, selected: s === runsView.task }, s || "any task")));
  const compareBtn = h("button", { class: "primary", id: "compare-selected", onclick: () => {
    const ids = [...runsView.selected].filter((id) => runs.has(id));
    location.hash = `#/compare?runs=${ids.map(encodeURIComponent).join(",")}&baseline=${encodeURIComponent(ids[0])}`;
  } }, "compare selected");
  const cols = [["", null], ["name", "name"], ["task", "task"], ["model", "model"], ["data", "data"], ["status", "status"],
    ["epochs", "epochs", "num"], ["best", "best", "num"], ["duration", "duration", "num"], ["start", "start"]];
  const headClass = (key, cls) => [key ? "sortable" : "", cls || "", key === runsView.sort ? "sorted" : "", key === runsView.sort && runsView.reversed ? "asc" : ""].join(" ").trim();
  const thead = h("thead", {}, h("tr", {}, cols.map(([label, key, cls]) => h("th", {
    class: headClass(key, cls),
    "data-sort": key,
    onclick: key ? () => {
      runsView.reversed = runsView.sort === key ? !runsView.reversed : false;
      runsView.sort = key;
      thead.querySelectorAll("th").forEach((th, i) => { th.className = headClass(cols[i][1], cols[i][2]); });
      draw();
    } : undefined,
  }, label))));
  const tbody = h("tbody", { id: "runs-body" });
  main.replaceChildren(
    h("h1", {}, "Runs"),
    h("div", { class: "card" },
      h("div", { class: "toolbar" }, search, statusSel, taskSel, compareBtn, status),
      h("div", { class: "scroll", style: "max-height: none" }, h("table", { id: "runs-table" }, thead, tbody))),
  );

  function matches(r) {
    const t = runsView.text.toLowerCase();
    return (!runsView.status || r.status === runsView.status || (runsView.status === "failed" && r.status === "died"))
      && (!runsView.task || r.task === runsView.task)
      && (!t || [r.name, r.id, r.model, r.data, r.task].some((x) => (x || "").toLowerCase().includes(t)));
  }

  function draw() {
    const shown = [...runs.values()].filter(matches).sort((a, b) => compareRows(a, b, runsView.sort, runsView.reversed));
    tbody.replaceChildren(...shown.map((r) => h("tr", { "data-run": r.id },
      h("td", {}, h("input", { type: "checkbox", "data-select": r.id, checked: runsView.selected.has(r.id),
        onchange: (e) => { if (e.target.checked) runsView.selected.add(r.id); else runsView.selected.delete(r.id); updateButton(); } })),
      h("td", {}, h("a", { href: `#/run/${encodeURIComponent(r.id)}`, title: r.dir }, r.name)),
      h("td", {}, r.task), h("td", {}, r.model ?? "-"), h("td", { title: r.data ?? "" }, r.data ?? "-"),
      h("td", {}, badge(r.status, r.statusLabel)),
      h("td", { class: "num", "data-col": "epochs" }, epochsText(r)), h("td", { class: "num" }, bestText(r.best)),
      h("td", { class: "num", "data-live": r.status === "running" ? r.id : null }, duration(r.durationSeconds)), h("td", {}, startText(r.startedAt)))));
    status.textContent = `${shown.length} of ${runs.size} runs`;
    updateButton();
  }
  function updateButton() {
    const n = [...runsView.selected].filter((id) => runs.has(id)).length;
    compareBtn.disabled = n < 2;
    compareBtn.textContent = `compare selected (${n})`;
  }

  // Many runs may change at once: one redraw per frame.
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(() => { pending = false; draw(); });
  };
  const keep = (r) => runs.set(r.id, Object.assign(r, { receivedAt: Date.now() }));
  await stream("list=1", { run: (summary) => { keep(summary); schedule(); } });
  const list = await api("/api/runs");
  for (const r of list.runs) keep(r);
  crumb.textContent = list.logdir;
  draw();
  // A running run's duration moves on between updates.
  const timer = window.setInterval(() => {
    for (const cell of tbody.querySelectorAll("td[data-live]")) {
      const r = runs.get(cell.getAttribute("data-live"));
      if (r && r.durationSeconds !== null) cell.textContent = duration(r.durationSeconds + (Date.now() - r.receivedAt) / 1000);
    }
  }, 1000);
  cleanups.push(() => window.clearInterval(timer));
}

// ---------------------------------------------------------------- run page

function factsOf(d) {
  const s = d.summary;
  const fact = (k, v, attrs) => h("div", Object.assign({ class: "fact" }, attrs || {}), h("span", { class: "k" }, k), h("span", { class: "v" }, v));
  return h("div", { class: "facts" },
    fact("status", badge(s.status, s.statusLabel), { id: "run-status", "data-status": s.status }),
    fact("task", s.task), fact("model", s.model ?? "-"), fact("data", s.data ?? "-"),
    fact("epochs", epochsText(s), { id: "run-epochs" }), fact("best", bestText(s.best)),
    fact("duration", duration(s.durationSeconds)), fact("started", startText(s.startedAt)),
    fact("ended", startText(s.endedAt)));
}

/** The final metrics: metrics.json's latest validation. */
function finalMetrics(d) {
  const m = d.metrics;
  const card = h("div", { class: "card", id: "final-metrics" }, h("h2", {}, "metrics (latest epoch)"));
  if (!m) return card.appendChild(h("p", { class: "muted" }, "no epoch finished yet")), card;
  const val = m.val && typeof m.val === "object" ? m.val : {};
  const items = d.summary.task === "detect"
    ? [["mAP50-95", m["mAP50-95"] ?? val.mAP50_95], ["mAP50", m.mAP50 ?? val.mAP50], ["precision", m.precision ?? val.precision], ["recall", m.recall ?? val.recall], ["fitness", m.fitness]]
    : [["accuracy", val.accuracy], ["top5", val.top5], ["macroF1", val.macroF1], ["loss", val.loss]];
  card.append(h("div", { class: "facts" },
    h("div", { class: "fact metric" }, h("span", { class: "k" }, "epoch"), h("span", { class: "v", "data-metric": "epoch" }, fmt(m.epoch))),
    h("div", { class: "fact metric" }, h("span", { class: "k" }, "best epoch"), h("span", { class: "v", "data-metric": "best_epoch" }, fmt(m.best_epoch))),
    items.map(([k, v]) => h("div", { class: "fact metric" }, h("span", { class: "k" }, k), h("span", { class: "v", "data-metric": k, "data-value": v ?? "" }, fmt(v))))));
  return card;
}

function confusionCard(cm) {
  if (!cm || !Array.isArray(cm.matrix) || !Array.isArray(cm.classes)) return null;
  const norm = Array.isArray(cm.normalized) ? cm.normalized : cm.matrix.map((row) => {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (sum ? v / sum : 0));
  });
  const table = h("table", { class: "cm", id: "confusion-matrix" },
    h("thead", {}, h("tr", {}, h("th", {}, "true \\ predicted"), cm.classes.map((c) => h("th", { class: "rot" }, c)))),
    h("tbody", {}, cm.matrix.map((row, i) => h("tr", {}, h("th", {}, cm.classes[i]), row.map((v, j) => {
      const a = norm[i][j];
      return h("td", { title: `${cm.classes[i]} → ${cm.classes[j]}: ${v} (${(a * 100).toFixed(1)}%)`,
        style: `background: rgba(194, 65, 12, ${Math.min(1, a).toFixed(3)}); color: ${a > 0.55 ? "#fff" : "inherit"}` }, v);
    })))));
  return h("div", { class: "card" }, h("h2", {}, "confusion matrix (rows: true class; shade: share of the row)"), h("div", { class: "scroll" }, table));
}

function perClassCard(d) {
  const m = d.metrics || {};
  if (d.summary.task === "detect" && Array.isArray(m.per_class)) {
    return h("div", { class: "card" }, h("h2", {}, "per-class AP"), h("div", { class: "scroll" }, h("table", { id: "per-class-ap" },
      h("thead", {}, h("tr", {}, ["class", "images", "instances", "P", "R", "AP50", "AP50-95"].map((c, i) => h("th", { class: i ? "num" : "" }, c)))),
      h("tbody", {}, m.per_class.map((c) => h("tr", {}, h("td", {}, c.name),
        [c.images, c.instances, c.precision, c.recall, c.ap50, c.ap50_95].map((v) => h("td", { class: "num" }, fmt(v)))))))));
  }
  const per = m.val && Array.isArray(m.val.perClass) ? m.val.perClass : null;
  if (!per) return null;
  return h("div", { class: "card" }, h("h2", {}, "per-class precision, recall, F1"), h("div", { class: "scroll" }, h("table", { id: "per-class" },
    h("thead", {}, h("tr", {}, ["class", "precision", "recall", "F1", "support"].map((c, i) => h("th", { class: i ? "num" : "" }, c)))),
    h("tbody", {}, per.map((c) => h("tr", {}, h("td", {}, c.name), [c.precision, c.recall, c.f1, c.support].map((v) => h("td", { class: "num" }, fmt(v)))))))));
}

function imagesCards(d) {
  const imgs = d.files.filter((f) => /\.(png|jpe?g|svg)$/i.test(f.path));
  const mosaic = imgs.filter((f) => /batch/i.test(f.path));
  const plots = imgs.filter((f) => !/batch/i.test(f.path));
  const gallery = (title, list, id) => list.length === 0 ? null : h("div", { class: "card", id }, h("h2", {}, title), h("div", { class: "gallery" },
    list.map((f) => h("figure", {}, h("a", { href: fileUrl(d.summary.id, f.path), target: "_blank", rel: "noopener" },
      h("img", { src: `${fileUrl(d.summary.id, f.path)}?v=${encodeURIComponent(f.mtime)}`, alt: f.path, loading: "lazy" })), h("figcaption", {}, f.path)))));
  return [gallery("plots (PR / F1 curves, confusion matrix, results)", plots, "plots"), gallery("predictions and labels", mosaic, "mosaics")];
}

function configCard(d) {
  const c = d.config;
  if (!c) return null;
  return h("div", { class: "card" }, h("h2", {}, "config (args.yaml, frozen at start)"), h("div", { class: "scroll" }, h("table", { id: "config" },
    h("tbody", {}, Object.entries(c).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, typeof v === "string" ? v : JSON.stringify(v))))))));
}

function filesCard(d) {
  return h("div", { class: "card" }, h("h2", {}, "files"), h("div", { class: "scroll" }, h("table", { id: "files" },
    h("thead", {}, h("tr", {}, h("th", {}, "file"), h("th", { class: "num" }, "size"), h("th", {}, "modified"), h("th", {}, ""))),
    h("tbody", {}, d.files.map((f) => h("tr", {}, h("td", {}, h("a", { href: fileUrl(d.summary.id, f.path), target: "_blank", rel: "noopener" }, f.path)),
      h("td", { class: "num" }, bytes(f.size)), h("td", {}, startText(f.mtime)),
      h("td", {}, h("a", { href: fileUrl(d.summary.id, f.path, true), download: f.path.split("/").pop() }, "download"))))))));
}

function epochTable(header) {
  const tbody = h("tbody", {});
  const table = h("table", { id: "epoch-table" }, h("thead", {}, h("tr", {}, header.map((c) => h("th", { class: "num" }, c)))), tbody);
  return {
    el: h("div", { class: "card" }, h("h2", {}, "per epoch (results.csv)"), h("div", { class: "scroll" }, table)),
    add(rows) { for (const r of rows) tbody.append(h("tr", {}, r.map((v) => h("td", { class: "num" }, fmt(v))))); },
  };
}

async function runPage(id) {
  crumb.textContent = id;
  let d = null;
  const early = [];
  let onAppend = (a) => early.push(a);
  let onChanged = () => {};
  await stream(`runs=${encodeURIComponent(id)}`, { append: (a) => onAppend(a), changed: () => onChanged() });
  d = await api(`/api/run?id=${encodeURIComponent(id)}`);
  const head = h("div", { class: "card", id: "run-head" });
  const chartsBox = h("div", { class: "grid", id: "charts" });
  const details = h("div", { id: "details" });
  main.replaceChildren(h("h1", {}, d.summary.name, " ", h("span", { class: "muted" }, id)), head, chartsBox, details);

  // Charts, built once per results.csv header and fed by the stream.
  let epochCharts = [];
  let table = null;
  const tableBox = h("div", {});
  const stepCard = h("div", { class: "card" });
  chartsBox.append(stepCard);
  const stepChart = lineChart(stepCard, "train loss per step", "step", ["train/batch_loss"], {});
  stepChart.holder.id = "chart-steps";
  stepChart.push((d.steps ? d.steps.step : []).map((s, i) => [s, d.steps.value[i]]));
  let stepsHave = stepChart.data[0].length;
  let rowsHave = 0;

  function buildEpochCharts(header) {
    for (const c of epochCharts) { c.chart.destroy(); c.card.remove(); }
    epochCharts = [];
    GROUPS.forEach((g, gi) => {
      const cols = header.map((c, i) => [c, i]).filter(([c]) => c !== "epoch" && c !== "time" && g.test(c));
      if (!cols.length) return;
      const card = h("div", { class: "card" });
      chartsBox.append(card);
      const chart = lineChart(card, g.title, "epoch", cols.map(([c]) => c));
      chart.holder.id = `chart-epoch-${gi}`;
      epochCharts.push({ card, chart, cols });
    });
    table = epochTable(header);
    tableBox.replaceChildren(table.el);
  }
  function addRows(header, rows) {
    const e = header.indexOf("epoch");
    for (const { chart, cols } of epochCharts) chart.push(rows.map((r, k) => [e >= 0 ? r[e] : k + 1, ...cols.map(([, i]) => r[i])]));
    table.add(rows);
    rowsHave += rows.length;
  }
  let header = d.results ? d.results.header : null;
  if (header) {
    buildEpochCharts(header);
    addRows(header, d.results.rows);
  }

  function renderDetails() {
    head.replaceChildren(factsOf(d));
    details.replaceChildren(...[finalMetrics(d), tableBox, confusionCard(d.confusion), perClassCard(d), ...imagesCards(d), configCard(d), filesCard(d)].filter(Boolean));
  }
  renderDetails();

  let refreshing = null;
  const refresh = () => {
    refreshing ??= api(`/api/run?id=${encodeURIComponent(id)}&series=0`).then((nd) => { d = Object.assign(nd, { steps: null, results: null }); renderDetails(); })
      .catch(() => {}).finally(() => { refreshing = null; });
  };
  onAppend = (a) => {
    if (a.resetSteps) {
      stepChart.reset();
      stepsHave = 0;
    }
    const steps = fresh(a.steps, a.stepsFrom, stepsHave);
    if (steps === null) return void route();
    stepChart.push(steps);
    stepsHave += steps.length;
    if (a.resetResults || (a.header && !header)) {
      header = a.header;
      rowsHave = 0;
      if (header) buildEpochCharts(header);
    }
    const rows = fresh(a.rows, a.rowsFrom, rowsHave);
    if (rows === null) return void route();
    if (header && rows.length) addRows(header, rows);
  };
  onChanged = refresh;
  for (const a of early.splice(0)) onAppend(a);
  // Running runs: the duration moves on even when no file changes.
  const timer = window.setInterval(() => { if (d.summary.status === "running") refresh(); }, 5000);
  cleanups.push(() => window.clearInterval(timer));
}

// ---------------------------------------------------------------- compare page

const PRIMARY_COLUMNS = { classify: "val/acc", detect: "metrics/mAP50-95(B)" };

async function comparePage(params) {
  const ids = (params.get("runs") || "").split(",").filter(Boolean);
  let baseline = params.get("baseline") || ids[0];
  let threshold = Number(params.get("threshold") || "1");
  crumb.textContent = `compare ${ids.join(", ")}`;
  if (ids.length < 2) {
    main.replaceChildren(h("p", { class: "error" }, "Select at least two runs on the runs page to compare them."));
    return;
  }
  const early = [];
  let onAppend = (a) => early.push(a);
  let onChanged = () => {};
  await stream(`runs=${ids.map(encodeURIComponent).join(",")}`, { append: (a) => onAppend(a), changed: () => onChanged() });
  const details = await Promise.all(ids.map((id) => api(`/api/run?id=${encodeURIComponent(id)}`)));
  const byId = new Map(details.map((d) => [d.summary.id, d]));
  const task = details[0].summary.task;
  const common = (details.map((d) => (d.results ? d.results.header : [])).reduce((a, b) => a.filter((c) => b.includes(c)))).filter((c) => c !== "epoch" && c !== "time");
  let column = common.includes(PRIMARY_COLUMNS[task]) ? PRIMARY_COLUMNS[task] : common[0];

  const baseSel = h("select", { id: "baseline-select", onchange: (e) => { baseline = e.target.value; setHash(); } },
    ids.map((id) => h("option", { value: id, selected: id === baseline }, id)));
  const thrInput = h("input", { type: "number", min: "0", step: "0.1", value: String(threshold), id: "threshold", style: "width: 6em",
    onchange: (e) => { threshold = Number(e.target.value); setHash(); } });
  const colSel = h("select", { id: "column-select", onchange: (e) => { column = e.target.value; drawCharts(); } },
    common.map((c) => h("option", { value: c, selected: c === column }, c)));
  const tableBox = h("div", { class: "card", id: "compare-card" });
  const chartsBox = h("div", { class: "grid" });
  main.replaceChildren(h("h1", {}, `Compare ${ids.length} runs`),
    h("div", { class: "card" }, h("div", { class: "toolbar" }, "baseline", baseSel, "threshold (points)", thrInput, "curve", colSel)),
    tableBox, chartsBox);

  function setHash() {
    history.replaceState(null, "", `#/compare?runs=${ids.map(encodeURIComponent).join(",")}&baseline=${encodeURIComponent(baseline)}&threshold=${threshold}`);
    loadTable();
  }

  let charts = [];
  function drawCharts() {
    for (const c of charts) { c.chart.destroy(); c.card.remove(); }
    charts = [];
    const specs = [[column, "epoch"], ["train/batch_loss", "step"]];
    specs.forEach(([col, xLabel], ci) => {
      const card = h("div", { class: "card" });
      chartsBox.append(card);
      const chart = lineChart(card, col === "train/batch_loss" ? "train loss per step" : `${col} per epoch`, xLabel, ids);
      chart.holder.id = `compare-chart-${ci}`;
      charts.push({ card, chart, col });
    });
    fillCharts();
  }
  function fillCharts() {
    for (const { chart, col } of charts) {
      // Aligned x values: every run's x, each run's y where it has one.
      const tables = ids.map((id) => {
        const d = byId.get(id);
        if (col === "train/batch_loss") return d.steps ? [d.steps.step, d.steps.value] : [[], []];
        if (!d.results) return [[], []];
        const e = d.results.header.indexOf("epoch"), i = d.results.header.indexOf(col);
        return [d.results.rows.map((r, k) => (e >= 0 ? r[e] : k + 1)), d.results.rows.map((r) => (i >= 0 ? r[i] : null))];
      });
      const joined = uPlot.join(tables.map(([x, y]) => [Array.from(x), Array.from(y)]));
      for (let k = 0; k < joined.length; k++) chart.data[k] = Array.from(joined[k]);
      chart.update();
    }
  }
  drawCharts();

  async function loadTable() {
    let c;
    try {
      c = await api(`/api/compare?runs=${ids.map(encodeURIComponent).join(",")}&baseline=${encodeURIComponent(baseline)}&threshold=${threshold}`);
    } catch (err) {
      tableBox.replaceChildren(h("p", { class: "error" }, String(err.message || err)));
      return;
    }
    const entries = c.runs;
    const rows = c.metrics.map((m) => h("tr", {}, h("th", {}, m.isPrimary ? `${m.label} *` : m.label), entries.map((e) => {
      const v = e.values ? e.values[m.key] : undefined;
      const ch = e.comparison ? e.comparison.metrics.find((x) => x.key === m.key) : null;
      return h("td", { class: "num", "data-run": e.id, "data-metric": m.key }, fmt(v),
        ch && ch.change !== null ? h("span", { class: ch.assessment === "better" ? "better" : ch.assessment === "worse" ? "worse" : "muted" },
          ` (${ch.change > 0 ? "+" : ""}${ch.change.toFixed(4)}${ch.changePct === null ? "" : `, ${ch.changePct > 0 ? "+" : ""}${ch.changePct.toFixed(2)}%`})`) : null);
    })));
    const verdicts = h("tr", {}, h("th", {}, "verdict"), entries.map((e) => h("td", {},
      e.id === c.baseline ? h("span", { class: "muted" }, "baseline")
        : e.error ? h("span", { class: "error", "data-run": e.id }, e.error)
          : h("span", { class: `verdict ${e.comparison.verdict}`, "data-run": e.id, "data-verdict": e.comparison.verdict }, e.verdict))));
    tableBox.replaceChildren(h("h2", {}, `metrics at the ${"best"} epoch vs the baseline (* decides the verdict, threshold ${c.thresholdPoints} point${c.thresholdPoints === 1 ? "" : "s"})`),
      h("div", { class: "scroll" }, h("table", { id: "compare-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "metric"), entries.map((e) => h("th", { class: "num" },
          h("a", { href: `#/run/${encodeURIComponent(e.id)}` }, e.id), e.id === c.baseline ? " (baseline)" : "", h("br"),
          h("span", { class: "muted" }, e.epoch === null ? "" : `epoch ${e.epoch}`))))),
        h("tbody", {}, rows, verdicts))));
  }
  await loadTable();

  onAppend = (a) => {
    const d = byId.get(a.id);
    if (!d) return;
    if (a.resetSteps || !d.steps) d.steps = { step: [], value: [] };
    const steps = fresh(a.steps, a.stepsFrom, d.steps.step.length);
    if (a.resetResults || (a.header && !d.results)) d.results = a.header ? { header: a.header, rows: [] } : null;
    const rows = fresh(a.rows, a.rowsFrom, d.results ? d.results.rows.length : 0);
    if (steps === null || rows === null) return void route();
    for (const [s, v] of steps) { d.steps.step.push(s); d.steps.value.push(v); }
    if (d.results) d.results.rows.push(...rows);
    fillCharts();
  };
  onChanged = () => loadTable();
  for (const a of early.splice(0)) onAppend(a);
}

// ---------------------------------------------------------------- router

async function route() {
  for (const c of cleanups.splice(0)) c();
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/run/")) await runPage(decodeURIComponent(hash.slice("#/run/".length)));
    else if (hash.startsWith("#/compare")) await comparePage(new URLSearchParams(hash.split("?")[1] || ""));
    else await runsPage();
  } catch (err) {
    main.replaceChildren(h("p", { class: "error" }, String(err && err.message ? err.message : err)));
  }
}

window.addEventListener("hashchange", route);
route();
