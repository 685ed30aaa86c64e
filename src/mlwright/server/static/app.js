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

function show(node, visible) { node.toggleAttribute("hidden", !visible); }  // the attribute: <svg> has no .hidden

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
    const model = $("#model").value.trim();
    if (model && body.llm !== "none") body.model = model;
    body.light = $("#light").checked;
    if (!body.task) throw new Error("Type the task: what to predict, in plain words.");
    Object.assign(body, await dataSource(button));
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

// The data of the form: a path, or the upload of the chosen files (made once, when they were chosen).
const upload = { files: null, id: null, pending: null };
async function dataSource(button) {
  if (sourceKind() === "path") {
    const data_path = $("#data-path").value.trim();
    if (!data_path) throw new Error("Type the path of a data folder or file on this machine.");
    return { data_path };
  }
  const files = $("#files").files;
  if (!files.length) throw new Error("Choose one or more data files, or one zip/tar archive.");
  if (upload.files !== files || !upload.id) {
    if (button) button.textContent = "Uploading...";
    await uploadChosen();
  }
  return { upload_id: upload.id };
}

async function uploadChosen() {
  const files = $("#files").files;
  if (upload.files === files && upload.pending) return upload.pending;
  upload.files = files; upload.id = null;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  upload.pending = api("/uploads", { method: "POST", body: form }).then((up) => { upload.id = up.upload_id; return up; })
    .finally(() => { upload.pending = null; });
  return upload.pending;
}

// ---- the data preview: how a run would understand the folder and the task (POST /api/explain) --------------
let previewTimer = null, previewSeq = 0;
function schedulePreview(delay = 600) {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, delay);
}

async function preview() {
  const seq = ++previewSeq;
  const box = $("#preview"), state = $("#preview-state");
  let source;
  try {
    if (sourceKind() === "path" && !$("#data-path").value.trim()) { show(box, false); return; }
    if (sourceKind() === "upload" && !$("#files").files.length) { show(box, false); return; }
    show(box, true);
    state.textContent = sourceKind() === "upload" && !upload.id ? "uploading..." : "reading the data...";
    source = await dataSource();
  } catch (e) {
    if (seq === previewSeq) { state.textContent = ""; $("#preview-body").replaceChildren(el("div", e.message, "error")); }
    return;
  }
  try {
    state.textContent = "reading the data...";
    const body = Object.assign({ task: $("#task").value.trim() }, source);
    const target = $("#target").value.trim();
    if (target) body.target = target;
    const ex = await api("/explain", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (seq !== previewSeq) return;  // the form changed meanwhile: a newer preview is on its way
    state.textContent = ex.ok ? `(read in ${Number(ex.seconds || 0).toFixed(1)} s; nothing fitted)` : "";
    $("#preview-body").replaceChildren(...(ex.ok ? renderPreview(ex, body.task) : [el("div", ex.error, "error")]));
  } catch (e) {
    if (seq === previewSeq) { state.textContent = ""; $("#preview-body").replaceChildren(el("div", e.message, "error")); }
  }
}

function renderPreview(ex, task) {
  const s = ex.spec, out = [];
  const facts = el("ul", null, "facts");
  const add = (text, cls) => facts.append(el("li", text, cls));
  if (task) {
    add(`${s.problem_type} (${s.modality}) · target "${s.target}" · metric ${s.metric}`);
  } else {
    add(`no task typed yet: the data alone suggests a ${s.problem_type} task on "${s.target}"`, "warn");
  }
  add(`${s.n_train_rows} training rows from ${s.train_table}; ${s.n_test_rows} rows to predict` +
    (s.test_table ? ` from ${s.test_table}` : ""));
  add(`output: ${s.prediction_file} with columns ${s.output_columns.join(", ")}`);
  if (s.class_labels && s.class_labels.length) add(`classes: ${s.class_labels.slice(0, 12).join(", ")}` +
    (s.class_labels.length > 12 ? ", ..." : ""));
  for (const note of s.notes || []) if (/^warning/i.test(note)) add(note, "warn");
  out.push(facts);
  const files = Object.entries(ex.files || {});
  if (files.length) {
    const t = el("table", null, "grid");
    t.append(headRow(["file", "role"]));
    const tb = el("tbody");
    for (const [f, role] of files.slice(0, 30)) { const tr = el("tr"); tr.append(el("td", f), el("td", role)); tb.append(tr); }
    t.append(tb);
    out.push(t);
  }
  const cols = ex.columns || [];
  if (cols.length) {
    const wrap = el("div", null, "cols");
    const t = el("table", null, "grid");
    t.append(headRow(["column", "kind", "use"]));
    const tb = el("tbody");
    for (const c of cols) { const tr = el("tr"); tr.append(el("td", c.name), el("td", c.kind || ""), el("td", c.use || "")); tb.append(tr); }
    t.append(tb);
    wrap.append(t);
    out.push(el("div", `${cols.length} column${cols.length === 1 ? "" : "s"}`, "muted small"), wrap);
  }
  return out;
}

function headRow(names) {
  const thead = el("thead"), tr = el("tr");
  names.forEach((n) => tr.append(el("th", n)));
  thead.append(tr);
  return thead;
}

$("#data-path").addEventListener("input", () => schedulePreview(800));
$("#task").addEventListener("input", () => { if (!$("#preview").hidden) schedulePreview(1200); });
$("#target").addEventListener("change", () => { if (!$("#preview").hidden) schedulePreview(200); });
document.querySelectorAll("input[name=source]").forEach((r) => r.addEventListener("change", () => schedulePreview(100)));

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
  if (e.dataTransfer && e.dataTransfer.files.length) { $("#files").files = e.dataTransfer.files; chosen(); }
});
function chosen() {
  showChosen();
  // upload now, so the preview can read the files and Start does not wait for the transfer
  uploadChosen().then(() => schedulePreview(0)).catch((err) => {
    show($("#preview"), true);
    $("#preview-state").textContent = "";
    $("#preview-body").replaceChildren(el("div", "Upload failed: " + err.message, "error"));
  });
}
$("#files").addEventListener("change", chosen);

async function loadConfig() {
  try {
    const c = await api("/config");
    $("#allowed").textContent = "Allowed folders: " + c.allowed_roots.join(", ");
    $("#drop-text").title = `up to ${c.max_upload_mb} MB`;
    renderLlmChoices(c.llm || { providers: [] });
  } catch (e) { /* the run list shows the problem */ }
}

function renderLlmChoices(llm) {
  const select = $("#llm");
  const models = {};
  for (const p of llm.providers) {
    const o = el("option", p.provider + (p.ready ? "" : ` (not set up: ${p.why_not})`));
    o.value = p.provider;
    o.disabled = !p.ready;
    select.append(o);
    models[p.provider] = p.model;
  }
  const model = $("#model");
  const sync = () => {
    const p = select.value;
    model.disabled = p === "none";
    model.placeholder = p === "none" ? "no LLM" : (models[p] ? `${models[p]} (the server's default)` : "model name (required)");
  };
  select.addEventListener("change", sync);
  sync();
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
    tr.lastChild.title = r.task_text;  // one line in the list, whole on hover
    tr.tabIndex = 0;  // keyboard: Tab to a run, Enter opens it
    tr.addEventListener("click", () => select(r.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") select(r.id); });
    tbody.append(tr);
    // the selected run changed since its stream ended (a `mlwright resume` from the CLI): watch it again
    if (r.id === state.id && !state.source && state.status !== null && !ACTIVE.has(state.status) &&
        r.status !== state.status) { state.resultsFor = null; watch(); }
  }
  show($("#runs-empty"), data.runs.length === 0);
}

function statusCell(status) {
  const td = el("td");
  td.append(el("span", status, "status " + status));
  return td;
}

// ---- one run ---------------------------------------------------------------------------------------------
const state = { id: null, lastEvent: 0, timer: null, resultsFor: null, status: null, source: null };

function select(id) {
  stopStream();
  if (location.hash !== "#run=" + encodeURIComponent(id)) history.replaceState(null, "", "#run=" + encodeURIComponent(id));
  Object.assign(state, { id, lastEvent: 0, resultsFor: null, status: null });
  $("#events").replaceChildren();
  $("#logs").replaceChildren();
  show($("#results"), false);
  show($("#run-error"), false);
  show($("#detail"), true);
  show($("#placeholder"), false);
  document.querySelectorAll("#runs tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === id));
  watch();
}

function stopStream() {
  if (state.source) state.source.close();
  if (state.timer) clearTimeout(state.timer);
  state.source = null; state.timer = null;
}

// The run's live feed: server-sent events (run, events, logs, then end once it is no longer active). The browser
// reconnects a dropped stream by itself, sending the last event id; a stream that cannot open is retried later.
function watch() {
  stopStream();
  const id = state.id;
  const enc = encodeURIComponent(id);
  const source = new EventSource(withToken(`/runs/${enc}/stream?after=${state.lastEvent}`));
  state.source = source;
  const mine = (fn) => (msg) => { if (state.source === source && id === state.id) fn(JSON.parse(msg.data)); };
  source.addEventListener("run", mine((run) => {
    show($("#run-error"), false);
    renderRun(run);
    const changed = state.status !== null && state.status !== run.status;
    state.status = run.status;
    if (changed) refreshRuns();
  }));
  source.addEventListener("events", mine((events) => renderEvents(events)));
  source.addEventListener("logs", mine((logs) => renderLogs(logs)));
  source.addEventListener("problem", mine((p) => { $("#run-error").textContent = p.detail; show($("#run-error"), true); }));
  source.addEventListener("end", mine(async (end) => {
    source.close();
    state.source = null;
    if (end.status === "succeeded" && state.resultsFor !== id) await loadResults(id);
  }));
  source.onerror = () => {
    if (state.source !== source || source.readyState !== EventSource.CLOSED) return;  // reconnecting by itself
    state.source = null;  // refused (unknown run, no token): say so, try again in a while
    api(`/runs/${enc}`).catch((e) => {
      if (id !== state.id) return;
      $("#run-error").textContent = e.message;
      show($("#run-error"), true);
    });
    state.timer = setTimeout(() => { if (id === state.id) watch(); }, 5000);
  };
}

function renderRun(run) {
  state.run = run;
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
    const step = a.kind + (a.parent_id !== null && a.parent_id !== undefined ? ` of #${a.parent_id}` : "");
    const note = a.error || a.data_note || "";
    tr.append(el("td", a.attempt_id), el("td", step, "tree"), el("td", a.recipe), statusCell(a.status),
      el("td", fmtScore(a.score)), el("td", a.seconds === null || a.seconds === undefined ? "-" : Math.round(a.seconds)),
      el("td", note.slice(0, 160)));
    tbody.append(tr);
  }
}

// the clock moves between the stream's updates
setInterval(() => { if (state.run && state.run.id === state.id && state.run.status === "running") renderClock(state.run); }, 1000);

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

function renderEvents(events) {
  const list = $("#events");
  for (const e of events) {
    if (e.id <= state.lastEvent) continue;
    const li = el("li");
    li.append(el("span", e.stage, "stage"), document.createTextNode(e.message));
    list.append(li);
    state.lastEvent = e.id;
  }
  if (events.length) list.scrollTop = list.scrollHeight;
}

function renderLogs(logs) {
  // each stream's library chatter comes folded (server side, log_folding.py): a closed <details> per fold
  $("#log-attempt").textContent = logs.attempt ? "(" + logs.attempt + ")" : "";
  const folded = logs.folded || {};
  const blocks = [];
  const add = (title, key) => {
    if (!logs[key]) return;
    blocks.push(el("pre", title, "muted"));
    for (const seg of folded[key] || [{ kind: "text", text: logs[key] }]) {
      if (seg.kind === "folded") {
        const d = el("details", null, "fold");
        d.append(el("summary", seg.summary), el("pre", seg.text));
        blocks.push(d);
      } else blocks.push(el("pre", seg.text));
    }
  };
  add(`--- ${logs.attempt} stdout ---`, "stdout");
  add(`--- ${logs.attempt} stderr ---`, "stderr");
  // before the first attempt prints anything (or when the run failed early), the run's own output
  if (!blocks.length) add("--- run console ---", "console");
  const box = $("#logs");
  const open = new Set(Array.from(box.querySelectorAll("details.fold")).map((d, i) => d.open ? i : -1));
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.replaceChildren(...blocks);
  box.querySelectorAll("details.fold").forEach((d, i) => { d.open = open.has(i); });
  if (atBottom) box.scrollTop = box.scrollHeight;
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
    const frame = $("#report-frame");
    frame.onload = () => fitFrame(frame);
    frame.src = withToken(`/runs/${enc}/report`);
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
    fitFrame(frame);  // loaded while the results were hidden: measure it now
  } catch (e) {
    state.resultsFor = null;
    $("#run-error").textContent = "Could not load the results: " + e.message;
    show($("#run-error"), true);
  }
}

function fitFrame(frame) {
  // the report reads as part of the page: no scrollbar of its own, its height follows its content
  try {
    const doc = frame.contentDocument;
    if (frame.offsetParent === null || !doc || !doc.body) return;  // hidden (results not shown yet) or not loaded
    frame.style.height = (doc.documentElement.scrollHeight + 8) + "px";
  } catch (e) { /* not readable: it keeps its fixed height and scrolls */ }
}
window.addEventListener("resize", () => { const f = $("#report-frame"); if (!$("#results").hidden) fitFrame(f); });

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
