// mlwright web UI: plain JS over the REST API (no build step, no CDN).
// The token comes from the URL printed at start (?token=...), is kept in sessionStorage and sent as a
// header; it is removed from the address bar so it does not end up in history or screenshots.
"use strict";

const $ = (sel) => document.querySelector(sel);
const ACTIVE = new Set(["queued", "running"]);

const token = (() => {
  const url = new URL(window.location.href);
  const t = url.searchParams.get("token");
  if (t) {
    sessionStorage.setItem("mlwright-token", t);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
    return t;
  }
  return sessionStorage.getItem("mlwright-token");
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
    tr.append(el("td", r.id), statusCell(r.status),
      el("td", r.score === null ? "-" : `${r.metric} ${fmtScore(r.score)}`), el("td", r.task_text.slice(0, 80)));
    tr.addEventListener("click", () => select(r.id));
    tbody.append(tr);
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
  refreshRuns();
  setInterval(refreshRuns, 3000);
}
