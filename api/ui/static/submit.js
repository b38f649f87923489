// The submit page: validate on the server as you type (debounced), show issues and the dry run.
"use strict";
(window.ArgusPages = window.ArgusPages || []).push(function initSubmit() {
  const area = document.getElementById("yaml");
  if (!area) return;
  const { el, postJSON } = window.Argus;
  const state = document.getElementById("v-state");
  const issuesBox = document.getElementById("issues");
  const dry = document.getElementById("dry-run");
  let timer = null, inflight = null, seq = 0;

  function jumpTo(line) {
    const lines = area.value.split("\n");
    let start = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }

  function showIssues(issues) {
    const items = issues.map((i) => {
      const li = el("li", {});
      if (i.path) li.append(el("code", { class: "path" }, i.path), " ");
      if (i.line) {
        const a = el("a", { href: "#", class: "muted" }, "line " + i.line);
        a.addEventListener("click", (ev) => { ev.preventDefault(); jumpTo(i.line); });
        li.append(a, " ");
      }
      li.append(i.message);
      return li;
    });
    issuesBox.replaceChildren(el("p", { class: "error" }, "The server refuses this task file:"),
      el("ul", { class: "issues" }, ...items));
  }

  function showDryRun(d) {
    issuesBox.replaceChildren();
    const dec = d.decision || {};
    document.getElementById("dr-decision").textContent = dec.reason || "";
    const victims = document.getElementById("dr-victims");
    victims.replaceChildren();
    if (dec.preempt && dec.preempt.length) {
      dec.preempt.forEach((id, n) => {
        if (n) victims.append(", ");
        victims.append(el("a", { href: "/ui/tasks/" + id }, "task " + id));
      });
    } else victims.append("none");
    document.getElementById("dr-driver").textContent =
      d.entrypoint_num_cpus + " CPU, " + d.entrypoint_num_gpus + " GPU" +
      (d.entrypoint_resources && Object.keys(d.entrypoint_resources).length ? ", " + JSON.stringify(d.entrypoint_resources) : "");
    document.getElementById("dr-entrypoint").textContent = d.entrypoint;
    dry.hidden = false;
  }

  async function validate() {
    const mine = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    state.textContent = "checking…";
    try {
      const r = await postJSON(area.dataset.validate, { yaml: area.value }, inflight.signal);
      if (mine !== seq) return;
      if (r.status !== 200) {
        const msg = (r.body.error && r.body.error.message) || ("HTTP " + r.status);
        showIssues([{ path: "", message: msg }]); dry.hidden = true; state.textContent = "not checked";
        return;
      }
      if (r.body.ok) { showDryRun(r.body.dry_run); state.textContent = "valid"; }
      else { showIssues(r.body.issues); dry.hidden = true; state.textContent = r.body.issues.length + " problem(s)"; }
    } catch (e) {
      if (e.name !== "AbortError") state.textContent = "could not reach the server";
    }
  }

  area.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 400); });
  area.addEventListener("keydown", (ev) => {
    if (ev.key === "Tab") { ev.preventDefault(); area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end"); }
  });
  validate();
});
