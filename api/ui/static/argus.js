// Argus web UI: a little progressive enhancement over server-rendered pages. No dependencies.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return node;
}

function fmtTime(ts) {
  if (!ts) return "–";
  const d = new Date(ts * 1000);
  const clock = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (d.toDateString() === new Date().toDateString()) return clock;
  return d.toLocaleDateString() + " " + clock;
}

function timeEl(ts) {
  const t = el("time", { "data-ts": ts || "" }, fmtTime(ts));
  if (ts) t.title = new Date(ts * 1000).toISOString();
  return t;
}

function badge(status) { return el("span", { class: "badge s-" + String(status).toLowerCase() }, status); }

function localTimes(root) {
  for (const t of (root || document).querySelectorAll("time[data-ts]")) {
    const ts = parseFloat(t.dataset.ts);
    if (ts) { t.textContent = fmtTime(ts); t.title = new Date(ts * 1000).toISOString(); }
  }
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) { location.href = "/ui/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("signed out"); }
  if (!r.ok) throw new Error("HTTP " + r.status);
  return r.json();
}

async function postJSON(url, body, signal) {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin", signal,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

function every(ms, fn) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { /* shown by the next successful poll */ }
    if (!stopped) setTimeout(tick, document.hidden ? ms * 3 : ms);
  };
  setTimeout(tick, ms);
  return () => { stopped = true; };
}

// --- the task list ------------------------------------------------------------------------
function taskRow(t) {
  const gpus = Math.round(t.resources.nodes * t.resources.gpus_per_node * 100) / 100;
  const link = (text) => el("a", { href: "/ui/tasks/" + t.id }, text);
  const tr = el("tr", { "data-id": t.id },
    el("td", {}, link(t.id)), el("td", {}, link(t.name)), el("td", {}, badge(t.status)),
    el("td", { class: "reason" }, t.reason || ""), el("td", {}, t.priority), el("td", {}, t.team || "–"),
    el("td", {}, t.owner || "–"), el("td", {}, gpus + (t.resources.gpu_model ? " " + t.resources.gpu_model : "")),
    el("td", {}, t.latest_step == null ? "–" : t.latest_step), el("td", {}, t.attempts + "/" + t.max_attempts),
    el("td", {}, timeEl(t.updated_at)));
  return tr;
}

function initTaskList() {
  const table = document.getElementById("task-table");
  if (!table) return;
  const body = table.tBodies[0];
  every(2000, async () => {
    const data = await getJSON(table.dataset.poll + location.search);
    const rows = data.items.map(taskRow);
    if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: 11 }, "No tasks match.")));
    body.replaceChildren(...rows);
    const shown = data.items.length;
    document.getElementById("task-count").textContent =
      data.total + " task(s)" + (data.total > shown ? ", newest " + shown + " shown" : "");
  });
  for (const s of document.querySelectorAll("#task-filters select")) {
    s.addEventListener("change", () => s.form.submit());
  }
}

// --- one task -----------------------------------------------------------------------------
function renderTask(t) {
  document.getElementById("t-status").replaceChildren(badge(t.status));
  document.getElementById("t-reason").textContent = t.reason || "–";
  document.getElementById("t-step").textContent = t.latest_step == null ? "none yet" : t.latest_step;
  document.getElementById("t-attempts").textContent = t.attempts + " of " + t.max_attempts +
    (t.preemptions ? " · preempted " + t.preemptions + "×" : "");
  document.getElementById("t-events").replaceChildren(...t.events.map((e) => el("li", {},
    el("span", { class: "ts" }, timeEl(e.ts)), badge(e.to), " ",
    el("span", { class: "ev-reason" }, e.reason || ""), " ", el("span", { class: "muted" }, e.actor || ""))));
  const rows = t.attempt_history.map((a) => el("tr", {},
    el("td", {}, a.number), el("td", {}, el("code", {}, a.submission_id)), el("td", {}, badge(a.status)),
    el("td", {}, (a.placement || []).length), el("td", {}, a.exit_code == null ? "–" : a.exit_code),
    el("td", {}, a.message || ""), el("td", {}, timeEl(a.started_at)), el("td", {}, timeEl(a.ended_at))));
  if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: 8 }, "Not started yet.")));
  document.querySelector("#t-attempt-table tbody").replaceChildren(...rows);
  const cancel = document.getElementById("cancel");
  if (cancel && !t.can.cancel) cancel.closest("form").remove();
  if (t.can.resubmit && !document.getElementById("resubmit")) location.reload();
}

async function streamLog(pre, state) {
  const controller = new AbortController();
  window.addEventListener("pagehide", () => controller.abort());
  try {
    const r = await fetch(pre.dataset.src, { credentials: "same-origin", signal: controller.signal });
    if (!r.ok) { state.textContent = "log unavailable (HTTP " + r.status + ")"; return; }
    state.textContent = "streaming";
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      pre.append(decoder.decode(value, { stream: true }));
      if (stick) pre.scrollTop = pre.scrollHeight;
    }
    state.textContent = "ended";
    state.classList.remove("live-note");
  } catch (e) {
    if (e.name !== "AbortError") state.textContent = "stream interrupted; reload to resume";
  }
}

function initTask() {
  const head = document.getElementById("task");
  if (!head) return;
  const stop = every(2000, async () => {
    const t = await getJSON(head.dataset.poll);
    renderTask(t);
    if (t.terminal) stop();
  });
  const pre = document.getElementById("log");
  if (pre) streamLog(pre, document.getElementById("log-state"));
}

// --- bars (CSP allows no inline styles: widths come from data attributes) and refresh ---------
function applyBars(root) {
  for (const b of (root || document).querySelectorAll("[data-width]")) b.style.width = b.dataset.width + "%";
  for (const b of (root || document).querySelectorAll("[data-left]")) b.style.left = b.dataset.left + "%";
}

function initRefresh() {
  const box = document.querySelector("[data-refresh]");
  if (!box) return;
  every(parseInt(box.dataset.refresh, 10), async () => {
    const r = await fetch(location.href, { credentials: "same-origin" });
    if (r.redirected || !r.ok) return;
    const fresh = new DOMParser().parseFromString(await r.text(), "text/html").getElementById(box.id);
    if (!fresh) return;
    box.replaceChildren(...fresh.childNodes);
    localTimes(box);
    applyBars(box);
  });
}

// --- confirmations ------------------------------------------------------------------------
function initConfirm() {
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (ev) => { if (!confirm(f.dataset.confirm)) ev.preventDefault(); });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  applyBars();
  initRefresh();
  initConfirm();
  initTaskList();
  initTask();
  if (window.ArgusPages) for (const init of window.ArgusPages) init();
  // Handlers are attached: scripts (and tests) may act on the page from here on.
  document.documentElement.dataset.ready = "1";
});

window.Argus = { el, badge, timeEl, getJSON, postJSON, every, csrf };
