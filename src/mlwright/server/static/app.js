// mlwright web UI: plain JS over the REST API (no build step, no CDN).
// The token comes from the URL printed at start (?token=...), is kept in this browser's storage for the
// server's origin (so a run's own URL, #run=ID, opens in a new tab or after a reload) and sent as a header;
// it is removed from the address bar so it does not end up in history or screenshots.
"use strict";

const $ = (sel) => document.querySelector(sel);
const ACTIVE = new Set(["queued", "running"]);

const token = (() => {
  const url = new URL(window.location.href);
  const t = url.searchParams.get("token");
  if (t) {
    localStorage.setItem("mlwright-token", t);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
    return t;
  }
  return localStorage.getItem("mlwright-token");
})();

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  const resp = await fetch("/api" + path, Object.assign({}, options, { headers }));
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    let msg = body && body.detail !== undefined ? body.detail : body;
    if (Array.isArray(msg)) msg = msg.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("\n");
    const err = new Error(typeof msg === "string" ? msg : JSON.stringify(msg));
    err.status = resp.status;
    throw err;
  }
  return body;
}

const withToken = (path) => "/api" + path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function show(node, visible) { node.hidden = !visible; }

function fmtScore(v) { return v === null || v === undefined ? "-" : Number(v).toFixed(5); }

function banner(text) {
  const b = $("#banner");
  b.textContent = text;
  show(b, !!text);
}

// ---- new run ---------------------------------------------------------------------------------------------
function sourceKind() { return document.querySelector("input[name=source]:checked").value; }

document.querySelectorAll("input[name=source]").forEach((r) =>
  r.addEventListener("change", () => {
    show($("#source-path"), sourceKind() === "path");
    show($("#source-upload"), sourceKind() === "upload");
  }));

$("#new-run").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const errBox = $("#form-error");
  show(errBox, false);
  const button = $("#start");
  button.disabled = true;
  try {
    const body = {
      task: $("#task").value.trim(),
      time_limit: Number($("#time-limit").value || 300),
      llm: $("#llm").value,
      interactive: $("#interactive").checked,
    };
    const target = $("#target").value.trim();
    if (target) body.target = target;
    body.light = $("#light").checked;
    if (!body.task) throw new Error("Type the task: what to predict, in plain words.");
    if (sourceKind() === "path") {
      body.data_path = $("#data-path").value.trim();
      if (!body.data_path) throw new Error("Type the path of a data folder or file on this machine.");
    } else {
      const files = $("#files").files;
      if (!files.length) throw new Error("Choose one or more data files, or one zip/tar archive.");
      const form = new FormData();
      for (const f of files) form.append("files", f, f.name);
      button.textContent = "Uploading...";
      const up = await api("/uploads", { method: "POST", body: form });
      body.upload_id = up.upload_id;
    }
    const run = await api("/runs", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    await refreshRuns();
    select(run.id);
  } catch (e) {
    errBox.textContent = e.message;
    show(errBox, true);
  } finally {
    button.disabled = false;
    button.textContent = "Start run";
  }
});

// drag and drop (or click, or Enter) onto the drop zone fills the file input
const drop = $("#drop");
function showChosen() {
  const n = $("#files").files.length;
  $("#drop-text").textContent = n ? `${n} file${n === 1 ? "" : "s"} chosen: ` +
    Array.from($("#files").files).slice(0, 5).map((f) => f.name).join(", ") + (n > 5 ? ", ..." : "")
    : "Drop data files or one zip/tar archive here, or click to choose";
}
drop.addEventListener("click", () => $("#files").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#files").click(); } });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer && e.dataTransfer.files.length) { $("#files").files = e.dataTransfer.files; showChosen(); }
});
$("#files").addEventListener("change", showChosen);

async function loadConfig() {
  try {
    const c = await api("/config");
    $("#allowed").textContent = "Allowed folders: " + c.allowed_roots.join(", ");
    $("#drop-text").title = `up to ${c.max_upload_mb} MB`;
  } catch (e) { /* the run list shows the problem */ }
}

// ---- run list --------------------------------------------------------------------------------------------
async function refreshRuns() {
  let data;
  try {
    data = await api("/runs");
  } catch (e) {
    banner(e.status === 401 ? "Not authorized: open the URL with ?token=... that `mlwright ui` printed." : e.message);
    return;
  }
  if (!$("#banner").textContent.startsWith("Not authorized")) banner("");
  const tbody = $("#runs tbody");
  tbody.replaceChildren();
  for (const r of data.runs) {
    const tr = el("tr");
    tr.dataset.id = r.id;
    if (state.id === r.id) tr.classList.add("selected");
    const idCell = el("td", r.id, "run-id");
    idCell.title = r.id;  // shown whole on hover; the cell keeps one line
    tr.append(idCell, statusCell(r.status),
      el("td", r.score === null ? "-" : `${r.metric} ${fmtScore(r.score)}`), el("td", r.task_text.slice(0, 80)));
    tr.addEventListener("click", () => select(r.id));
    tbody.append(tr);
    // the selected run changed since its view stopped polling (a `mlwright resume` from the CLI): read it again
    if (r.id === state.id && state.status !== null && !ACTIVE.has(state.status) && r.status !== state.status) poll();
  }
  show($("#runs-empty"), data.runs.length === 0);
}

function statusCell(status) {
  const td = el("td");
  td.append(el("span", status, "status " + status));
  return td;
}

// ---- one run ---------------------------------------------------------------------------------------------
const state = { id: null, lastEvent: 0, timer: null, resultsFor: null, status: null };

function select(id) {
  if (state.timer) clearTimeout(state.timer);
  if (location.hash !== "#run=" + encodeURIComponent(id)) history.replaceState(null, "", "#run=" + encodeURIComponent(id));
  Object.assign(state, { id, lastEvent: 0, resultsFor: null, status: null });
  $("#events").replaceChildren();
  $("#logs").textContent = "";
  show($("#results"), false);
  show($("#detail"), true);
  show($("#placeholder"), false);
  document.querySelectorAll("#runs tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === id));
  poll();
}

async function poll() {
  const id = state.id;
  try {
    const [run, ev, logs] = await Promise.all([
      api(`/runs/${encodeURIComponent(id)}`),
      api(`/runs/${encodeURIComponent(id)}/events?after=${state.lastEvent}`),
      api(`/runs/${encodeURIComponent(id)}/logs`),
    ]);
    if (id !== state.id) return;  // another run was selected meanwhile
    renderRun(run);
    renderEvents(ev);
    renderLogs(logs);
    if (run.status === "succeeded" && state.resultsFor !== id) await loadResults(id);
    const changed = state.status !== null && state.status !== run.status;
    state.status = run.status;
    if (changed) refreshRuns();
    if (ACTIVE.has(run.status)) state.timer = setTimeout(poll, 1000);
  } catch (e) {
    if (id !== state.id) return;
    $("#run-error").textContent = e.message;
    show($("#run-error"), true);
    state.timer = setTimeout(poll, 3000);
  }
}

function renderRun(run) {
  $("#run-title").textContent = run.id;
  const st = $("#run-status");
  st.textContent = run.status + (run.queue_position ? ` (#${run.queue_position} in queue)` : "");
  st.className = "status " + run.status;
  $("#run-stage").textContent = run.stage ? "stage: " + run.stage : "";
  $("#run-task").textContent = run.task_text || "";
  show($("#cancel"), ACTIVE.has(run.status));
  renderClock(run);
  renderChart(run.attempts || [], run.summary);
  show($("#guidance-form"), run.status === "running" && run.interactive);
  const err = $("#run-error");
  err.textContent = run.error || "";
  show(err, !!run.error && run.status !== "succeeded");
  const tbody = $("#attempts tbody");
  tbody.replaceChildren();
  for (const a of run.attempts || []) {
    const tr = el("tr");
    tr.append(el("td", a.attempt_id), el("td", a.recipe), statusCell(a.status), el("td", fmtScore(a.score)),
      el("td", a.seconds === null ? "-" : Math.round(a.seconds)), el("td", (a.error || "").slice(0, 160)));
    tbody.append(tr);
  }
}

function renderClock(run) {
  const limit = run.time_limit_s, s = run.summary || {};
  let elapsed = s.wall_seconds;
  if (run.status === "running" && run.started_at) elapsed = Math.max(elapsed || 0, Date.now() / 1000 - run.started_at);
  show($("#clock"), !!limit && elapsed !== undefined && elapsed !== null);
  if (!limit || elapsed === undefined || elapsed === null) return;
  $("#clock-bar").value = Math.min(1, elapsed / limit);
  $("#clock-text").textContent = run.status === "running"
    ? `${Math.round(elapsed)} s elapsed, ${Math.max(0, Math.round(limit - elapsed))} s left of ${Math.round(limit)} s`
    : `${Math.round(elapsed)} s of the ${Math.round(limit)} s budget`;
}

function renderChart(attempts, summary) {
  // validation score per attempt (dots: green valid, red not) and the best so far (line)
  const svg = $("#chart");
  const scored = attempts.filter((a) => a.score !== null && a.score !== undefined);
  show(svg, scored.length > 0);
  if (!scored.length) return;
  const higher = !summary || !summary.best || summary.best.higher_is_better;
  const w = svg.clientWidth || 600, h = 120, pad = 24;
  const ids = attempts.map((a) => a.attempt_id), xs = (id) => pad + (w - 2 * pad) * (ids.indexOf(id) / Math.max(1, ids.length - 1));
  const vals = scored.map((a) => a.score), lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1;
  const ys = (v) => h - pad - (h - 2 * pad) * (v - lo) / span;
  const ns = "http://www.w3.org/2000/svg", nodes = [];
  let best = null;
  const line = document.createElementNS(ns, "polyline");
  const pts = [];
  for (const a of attempts) {
    if (a.score === null || a.score === undefined) continue;
    if (best === null || (higher ? a.score > best : a.score < best)) best = a.score;
    pts.push(`${xs(a.attempt_id)},${ys(best)}`);
  }
  line.setAttribute("points", pts.join(" "));
  nodes.push(line);
  for (const a of attempts) {
    const c = document.createElementNS(ns, "circle");
    const ok = a.status === "succeeded" && a.score !== null && a.score !== undefined;
    c.setAttribute("cx", xs(a.attempt_id)); c.setAttribute("cy", ok ? ys(a.score) : h - pad / 2); c.setAttribute("r", 4);
    c.setAttribute("class", ok ? "ok" : "bad");
    const t = document.createElementNS(ns, "title");
    t.textContent = `#${a.attempt_id} ${a.recipe}: ${a.status}${ok ? " " + fmtScore(a.score) : ""}`;
    c.append(t);
    nodes.push(c);
  }
  for (const [v, y] of [[hi, pad - 6], [lo, h - 4]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 2); t.setAttribute("y", y); t.textContent = fmtScore(v);
    nodes.push(t);
  }
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren(...nodes);
}

function renderEvents(ev) {
  const list = $("#events");
  for (const e of ev.events) {
    const li = el("li");
    li.append(el("span", e.stage, "stage"), document.createTextNode(e.message));
    list.append(li);
  }
  state.lastEvent = ev.last_id;
  if (ev.events.length) list.scrollTop = list.scrollHeight;
}

function renderLogs(logs) {
  $("#log-attempt").textContent = logs.attempt ? "(" + logs.attempt + ")" : "";
  const parts = [];
  if (logs.stdout) parts.push(`--- ${logs.attempt} stdout ---\n` + logs.stdout);
  if (logs.stderr) parts.push(`--- ${logs.attempt} stderr ---\n` + logs.stderr);
  // before the first attempt prints anything (or when the run failed early), the run's own output
  if (!parts.length && logs.console) parts.push("--- run console ---\n" + logs.console);
  const pre = $("#logs");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = parts.join("\n");
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function loadResults(id) {
  state.resultsFor = id;
  const enc = encodeURIComponent(id);
  try {
    const pred = await api(`/runs/${enc}/predictions?limit=50`);
    const thead = $("#predictions thead"), tbody = $("#predictions tbody");
    const hr = el("tr");
    pred.columns.forEach((c) => hr.append(el("th", c)));
    thead.replaceChildren(hr);
    tbody.replaceChildren();
    for (const row of pred.rows) {
      const tr = el("tr");
      row.forEach((v) => tr.append(el("td", v === null ? "" : v)));
      tbody.append(tr);
    }
    $("#pred-info").textContent = `${pred.file}: showing ${pred.shown_rows} of ${pred.total_rows} rows`;
    $("#download").href = withToken(`/runs/${enc}/download`);
    $("#download").setAttribute("download", pred.file);
    $("#report-link").href = withToken(`/runs/${enc}/report`);
    $("#report-frame").src = withToken(`/runs/${enc}/report`);
    $("#code").textContent = await api(`/runs/${enc}/code`);
    const calls = (await api(`/runs/${enc}/transcript`)).calls || [];
    $("#transcript-summary").textContent = `LLM transcript (${calls.length} call${calls.length === 1 ? "" : "s"}; keys masked)`;
    $("#transcript").textContent = calls.map((c, i) => {
      const asked = (c.messages || []).filter((m) => m.role === "user").map((m) => m.content).join("\n");
      const head = `── ${i + 1}. ${c.role}` + (c.input_tokens != null ? ` · ${c.input_tokens} in / ${c.output_tokens} out tokens` : "")
        + (c.finish_reason ? ` · ${c.finish_reason}` : "") + (c.error ? ` · error: ${c.error}` : "");
      return `${head}\n${asked}\n── answer:\n${c.answer ?? "(none)"}\n`;
    }).join("\n");
    show($("#transcript-box"), calls.length > 0);
    show($("#results"), true);
  } catch (e) {
    state.resultsFor = null;
    $("#run-error").textContent = "Could not load the results: " + e.message;
    show($("#run-error"), true);
  }
}

$("#cancel").addEventListener("click", async () => {
  if (!state.id) return;
  try {
    await api(`/runs/${encodeURIComponent(state.id)}/cancel`, { method: "POST" });
    refreshRuns();
  } catch (e) {
    $("#run-error").textContent = e.message;
    show($("#run-error"), true);
  }
});

$("#guidance-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("#guidance");
  const text = input.value.trim();
  if (!text) return;
  try {
    await api(`/runs/${encodeURIComponent(state.id)}/guidance`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    input.value = "";
    $("#guidance-note").textContent = "Sent: it reaches the next attempt.";
  } catch (e) {
    $("#guidance-note").textContent = e.message;
  }
});

// ---- start -----------------------------------------------------------------------------------------------
if (!token) {
  banner("No token: open the URL with ?token=... that `mlwright ui` printed.");
} else {
  loadConfig();
  refreshRuns();
  setInterval(refreshRuns, 3000);
  const fromHash = () => {  // a run's own URL: #run=ID (reload, a new tab, a shared link on this machine)
    const m = location.hash.match(/^#run=(.+)$/);
    if (m && decodeURIComponent(m[1]) !== state.id) select(decodeURIComponent(m[1]));
  };
  window.addEventListener("hashchange", fromHash);
  fromHash();
}
