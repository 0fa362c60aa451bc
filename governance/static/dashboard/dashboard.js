// Petrosa CIO commander dashboard: a small vanilla module, no build step.
//
// 1. Live: a websocket on /ws/dashboard/ receives bounded events from the bridge
//    (rows, stats, state, heartbeats); it reconnects with backoff.
// 2. Fallback: while the socket is down, /dashboard/live/ is polled every poll_s.
// 3. Panels that are not live (policy, regime, ...) are re-fetched as HTML fragments.
// 4. Controls (halt / reduce-only / resume, rollback) always pass a confirmation dialog.

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const MAX_ROWS = 200; // rows kept in the DOM
const SERIES_LEN = 60;

// Counters for tests and for the burst measurement (docs/benchmarks.md).
const probe = { events: 0, rows: 0, polls: 0, lagMaxMs: 0, lastEventAt: 0, maxGapMs: 0,
                socket: "closing", kinds: {} };
window.__dashboard = probe;

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const stream = $("#decision-stream");
const known = new Set($$("tr[data-decision-id]", stream).map((tr) => tr.dataset.decisionId));
const series = { dps: [], block: [], p50: [], p99: [] };

// -- filters -----------------------------------------------------------------------------
function filters() {
  const form = $("#filters");
  const out = {};
  for (const el of form.elements) {
    if (el.name && el.value.trim()) out[el.name] = el.value.trim();
  }
  return out;
}

function visible(tr, f) {
  if (f.outcome && tr.dataset.outcome !== f.outcome) return false;
  if (f.strategy_id && tr.dataset.strategy !== f.strategy_id) return false;
  if (f.symbol && tr.dataset.symbol !== f.symbol.toUpperCase()) return false;
  if (f.reason_code && !tr.dataset.reasons.split(" ").includes(f.reason_code.toUpperCase())) return false;
  return true;
}

function applyFilters() {
  const f = filters();
  for (const tr of $$("tr", stream)) tr.classList.toggle("hidden", !visible(tr, f));
}

// -- rows --------------------------------------------------------------------------------
function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function rowElement(r) {
  const tr = document.createElement("tr");
  tr.className = `row-${r.outcome} row-new`;
  tr.dataset.signalId = r.signal_id;
  tr.dataset.decisionId = r.decision_id;
  tr.dataset.outcome = r.outcome;
  tr.dataset.strategy = r.strategy_id;
  tr.dataset.symbol = r.symbol;
  tr.dataset.reasons = r.reasons.map((x) => x.code).join(" ");
  const t = cell((r.decided_at || "").slice(11, 23), "t");
  t.title = r.decided_at;
  tr.append(t, cell(r.strategy_id), cell(r.symbol), cell(r.action));
  const size = cell(r.quantity == null ? "" : String(r.quantity), "num");
  if (r.notional) {
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = ` ($${Math.round(r.notional)})`;
    size.append(span);
  }
  tr.append(size);
  const outcome = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = `outcome outcome-${r.outcome}`;
  badge.textContent = r.outcome;
  outcome.append(badge);
  const reasons = cell("", "reasons");
  for (const x of r.reasons) {
    const code = document.createElement("code");
    code.textContent = x.code;
    code.title = x.detail;
    reasons.append(code, " ");
  }
  const link = document.createElement("td");
  const a = document.createElement("a");
  a.href = `/dashboard/decisions/${encodeURIComponent(r.decision_id)}/`;
  a.textContent = "explain";
  link.append(a);
  tr.append(outcome, reasons, cell(`${r.latency_us} µs`, "num"), link);
  return tr;
}

// Rows arrive oldest first; the newest ends up on top.
function addRows(rows) {
  const f = filters();
  const fragment = document.createDocumentFragment();
  let added = 0;
  for (const r of rows) {
    if (known.has(r.decision_id)) continue;
    known.add(r.decision_id);
    const tr = rowElement(r);
    if (!visible(tr, f)) tr.classList.add("hidden");
    fragment.prepend(tr);
    added += 1;
  }
  if (!added) return;
  const empty = $("tr.empty", stream);
  if (empty) empty.remove();
  stream.prepend(fragment);
  probe.rows += added;
  while (stream.rows.length > MAX_ROWS) {
    const last = stream.rows[stream.rows.length - 1];
    known.delete(last.dataset.decisionId);
    last.remove();
  }
}

// -- gate health -------------------------------------------------------------------------
function spark(svg, values, { max = null, lines = [] } = {}) {
  if (!svg) return;
  const top = max ?? Math.max(1e-9, ...values, ...lines);
  const w = 120, h = Number(svg.viewBox.baseVal.height || 24);
  const n = Math.max(values.length - 1, 1);
  const pts = values.map((v, i) => `${((i / n) * w).toFixed(1)},${(h - (Math.min(v, top) / top) * (h - 2) - 1).toFixed(1)}`);
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  for (const l of lines) {
    const line = document.createElementNS(ns, "line");
    const y = (h - (l / top) * (h - 2) - 1).toFixed(1);
    line.setAttribute("x1", "0"); line.setAttribute("x2", String(w));
    line.setAttribute("y1", y); line.setAttribute("y2", y);
    svg.append(line);
  }
  const poly = document.createElementNS(ns, "polyline");
  poly.setAttribute("points", pts.join(" "));
  svg.append(poly);
}

function renderStaticSparks(root = document) {
  for (const svg of $$("svg.spark[data-values]", root)) {
    try {
      spark(svg, JSON.parse(svg.dataset.values), {
        max: svg.dataset.max ? Number(svg.dataset.max) : null,
        lines: svg.dataset.lines ? JSON.parse(svg.dataset.lines) : [],
      });
    } catch (err) { /* a malformed series only loses its sparkline */ }
  }
}

function setText(sel, text) {
  const el = $(sel);
  if (el) el.textContent = text;
}

function renderRules(rules) {
  const body = $("#rule-hits tbody");
  if (!body) return;
  body.replaceChildren();
  const entries = Object.entries(rules || {}).sort((a, b) => b[1] - a[1]).slice(0, 15);
  for (const [code, n] of entries) {
    const tr = document.createElement("tr");
    const c = document.createElement("code");
    c.textContent = code;
    const td = document.createElement("td");
    td.append(c);
    tr.append(td, cell(String(n), "num"));
    body.append(tr);
  }
  if (!entries.length) body.append(Object.assign(document.createElement("tr"), { className: "empty" }));
  setText("#rule-window", `(last ${SERIES_LEN} s, live)`);
}

function addPoint(p) {
  series.dps.push(p.decisions);
  series.block.push(p.block_rate);
  series.p50.push(p.p50_us);
  series.p99.push(p.p99_us);
  for (const k of Object.keys(series)) while (series[k].length > SERIES_LEN) series[k].shift();
}

function renderSeries(last) {
  if (last) {
    setText("#stat-dps", String(last.decisions));
    setText("#stat-block-rate", `${(last.block_rate * 100).toFixed(1)}%`);
    setText("#stat-p50", `${last.p50_us} µs`);
    setText("#stat-p99", `${last.p99_us} µs`);
  }
  spark($("#spark-dps"), series.dps);
  spark($("#spark-block"), series.block, { max: 1 });
  spark($("#spark-p50"), series.p50);
  spark($("#spark-p99"), series.p99);
}

function replaceSeries(points) {
  for (const k of Object.keys(series)) series[k] = [];
  for (const p of points || []) addPoint(p);
  renderSeries(points && points.length ? points[points.length - 1] : null);
}

// -- fleet state and instances -----------------------------------------------------------
function setFleet(s) {
  if (!s || !s.state) return;
  const el = $("#fleet-state");
  el.textContent = s.state;
  el.dataset.state = s.state;
  el.className = `state state-${s.state}`;
  el.title = s.reason || "";
  setText("#policy-version", String(s.policy_version ?? ""));
  const chips = $("#fleet-scopes");
  chips.replaceChildren();
  for (const row of s.scopes || []) {
    if (row.scope === "global") continue;
    const chip = document.createElement("span");
    chip.className = `chip state-${row.state}`;
    chip.title = row.reason || "";
    chip.textContent = `${row.scope}: ${row.state}`;
    chips.append(chip);
  }
}

function renderInstances(list) {
  const body = $("#nurse-instances tbody");
  body.replaceChildren();
  for (const i of list || []) {
    const tr = document.createElement("tr");
    tr.dataset.instance = i.instance;
    tr.dataset.status = i.status;
    const status = document.createElement("td");
    const span = document.createElement("span");
    span.className = `status status-${i.status}`;
    span.textContent = i.status;
    status.append(span);
    const age = i.age_s == null ? "never" : `${i.age_s} s ago`;
    tr.append(cell(i.instance), status, cell(age, "muted"), cell(`policy v${i.policy_version}`, "muted"));
    body.append(tr);
  }
  if (!body.rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    tr.append(cell("no instance reporting", "muted"));
    body.append(tr);
  }
}

// -- events ------------------------------------------------------------------------------
function handle(event) {
  const now = performance.now();
  if (probe.lastEventAt) probe.maxGapMs = Math.max(probe.maxGapMs, now - probe.lastEventAt);
  probe.events += 1;
  probe.lastEventAt = now;
  probe.kinds[event.kind] = (probe.kinds[event.kind] || 0) + 1;
  switch (event.kind) {
    case "rows":
      addRows(event.rows);
      if (event.omitted) {
        const el = $("#omitted");
        el.textContent = String(Number(el.textContent) + event.omitted);
      }
      break;
    case "stats":
      addPoint(event.point);
      renderSeries(event.point);
      renderRules(event.rules);
      break;
    case "state":
      setFleet(event);
      refreshPanel("policy");
      break;
    case "heartbeats":
      renderInstances(event.instances);
      break;
    default:
      break;
  }
}

function setConn(state, text) {
  const el = $("#conn-status");
  el.className = `conn conn-${state}`;
  el.textContent = text;
  probe.socket = state;
}

// -- websocket with reconnect, polling while it is down ------------------------------------
let socket = null;
let backoff = 1000;
let pollTimer = null;
let pingTimer = null;

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  setConn("connecting", "connecting…");
  socket = new WebSocket(`${proto}//${location.host}${config.ws_path}`);
  socket.onopen = () => {
    backoff = 1000;
    setConn("live", "live");
    stopPolling();
    pingTimer = setInterval(() => {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ kind: "ping", t: Date.now() }));
    }, 25000);
  };
  socket.onmessage = (msg) => {
    try { handle(JSON.parse(msg.data)); } catch (err) { console.error("dashboard event", err); }
  };
  socket.onclose = (ev) => {
    clearInterval(pingTimer);
    socket = null;
    startPolling();
    if (ev.code === 4403) {
      setConn("forbidden", "session expired: log in again");
      return;
    }
    setConn("polling", "reconnecting (polling)");
    const wait = backoff + Math.random() * 500;
    backoff = Math.min(backoff * 2, 15000);
    setTimeout(connect, wait);
  };
}

async function poll() {
  const params = new URLSearchParams(filters());
  try {
    const res = await fetch(`${config.live_url}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.status === 401 || res.status === 403) {
      location.href = `/accounts/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
      return;
    }
    const body = await res.json();
    if (!body.success) return;
    probe.polls += 1;
    const data = body.data;
    addRows([...(data.rows || [])].reverse());
    if (data.series && data.series.length) replaceSeries(data.series);
    if (data.rules && Object.keys(data.rules).length) renderRules(data.rules);
    setFleet(data.state);
    renderInstances(data.instances);
  } catch (err) { /* the next poll retries */ }
}

function startPolling() {
  if (pollTimer) return;
  poll();
  pollTimer = setInterval(poll, config.poll_s * 1000);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

// -- panels ------------------------------------------------------------------------------
async function refreshPanel(name) {
  const el = $(`[data-panel="${name}"]`);
  if (!el) return;
  try {
    const res = await fetch(`/dashboard/panels/${name}/`, { credentials: "same-origin" });
    if (!res.ok) return;
    el.innerHTML = await res.text();
    renderStaticSparks(el);
  } catch (err) { /* keep the old content */ }
}

function refreshPanels() {
  for (const el of $$("[data-panel]")) refreshPanel(el.dataset.panel);
}

// -- controls ----------------------------------------------------------------------------
const dialog = $("#control-dialog");
let pending = null;
const LABELS = { halt: "HALT (no new exposure)", reduce: "REDUCE-ONLY (only position-reducing intents)", resume: "RESUME (ACTIVE)" };

function csrf() {
  return $('meta[name="csrf-token"]').content;
}

function openControl(button) {
  const action = button.dataset.action;
  if (action === "rollback") {
    pending = { url: "/dashboard/control/rollback/", body: { scope: button.dataset.scope, target_version: Number(button.dataset.version) } };
    setText("#control-summary", `Roll back ${button.dataset.scope} to version ${button.dataset.version}?`);
  } else {
    const scope = ($("#control-scope").value || "global").trim();
    pending = { url: "/dashboard/control/state/", body: { action, scope } };
    setText("#control-summary", `Set ${scope} to ${LABELS[action]}?`);
  }
  setText("#control-title", `Confirm ${action}`);
  setText("#control-error", "");
  $("#control-reason").value = "";
  dialog.dataset.action = action;
  dialog.showModal();
  $("#control-reason").focus();
}

async function confirmControl() {
  const reason = $("#control-reason").value.trim();
  if (!reason) {
    setText("#control-error", "A reason is required.");
    return;
  }
  const button = $("[data-confirm]", dialog);
  button.disabled = true;
  try {
    const res = await fetch(pending.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify({ ...pending.body, reason, confirm: true }),
    });
    const body = await res.json();
    if (!body.success) {
      setText("#control-error", `${body.error.code}: ${body.error.message}`);
      return;
    }
    setFleet(body.data.fleet);
    setText("#control-result", body.data.result.message || "applied");
    dialog.close();
    refreshPanel("policy");
  } catch (err) {
    setText("#control-error", "The request failed; nothing may have changed. Check the state.");
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (ev) => {
  const target = ev.target.closest("[data-action]");
  if (target && !dialog.contains(target)) openControl(target);
});
$("[data-confirm]", dialog).addEventListener("click", confirmControl);
$("[data-cancel]", dialog).addEventListener("click", () => dialog.close());
$("#filters").addEventListener("input", () => {
  applyFilters();
  const params = new URLSearchParams(filters());
  history.replaceState(null, "", `${location.pathname}${params.toString() ? `?${params}` : ""}`);
});

// -- responsiveness probe (main-thread lag, read by the burst measurement) -----------------
let expected = performance.now() + 100;
setInterval(() => {
  const now = performance.now();
  probe.lagMaxMs = Math.max(probe.lagMaxMs, now - expected);
  expected = now + 100;
}, 100);

// -- start -------------------------------------------------------------------------------
replaceSeries(JSON.parse(document.getElementById("dashboard-series").textContent || "[]"));
renderStaticSparks();
applyFilters();
setInterval(refreshPanels, config.panel_refresh_s * 1000);
if ("WebSocket" in window) {
  connect();
} else {
  setConn("polling", "polling");
  startPolling();
}
