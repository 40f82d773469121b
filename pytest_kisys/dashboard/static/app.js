// pytest-kisys dashboard: vanilla JS and SVG, no network beyond the dashboard's own API.
// With an embedded data block (the --kisys-html report) it renders that one run offline.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const dataNode = document.getElementById("kisys-data");
  const embedded = dataNode ? JSON.parse(dataNode.textContent) : null;
  const token = new URLSearchParams(location.search).get("token");
  const state = { runs: [], current: null, findings: [], refresh: null };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "onclick") node.onclick = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c === null || c === undefined ? "" : c);
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const fmt = (s) => (s === null || s === undefined ? "" : Number(s).toFixed(s < 10 ? 3 : 1));
  const when = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "");

  async function api(name, params) {
    if (embedded) return embedded[name];
    const query = new URLSearchParams(params || {});
    const path = name === "run" ? "/api/runs/" + encodeURIComponent(params.id) : "/api/" + name;
    if (name === "run") query.delete("id");
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const response = await fetch(path + (query.toString() ? "?" + query : ""), { headers });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  function fill(tbodyOf, rows, cells) {
    const body = $(tbodyOf).querySelector("tbody");
    if (!rows.length) {
      const span = $(tbodyOf).querySelectorAll("th").length;
      body.replaceChildren(el("tr", {}, el("td", { colspan: span, class: "none" }, "none")));
      return;
    }
    body.replaceChildren(...rows.map((r) => el("tr", {}, ...cells(r).map((c) =>
      c instanceof Node ? el("td", {}, c) : el("td", typeof c === "number" ? { class: "num" } : {}, c)))));
  }

  async function loadRuns() {
    const page = await api("runs", { limit: 50 });
    state.runs = page.items;
    $("runs").replaceChildren(...page.items.map((r) => el("li", {
      class: r.id === state.current ? "sel" : "", onclick: () => select(r.id) },
      el("strong", {}, r.name), el("small", { class: "status-" + r.status }, r.status +
        " · " + r.tests + " tests · " + r.findings + " findings"))));
    $("runs-more").textContent = page.total > page.items.length ? page.total + " runs in all" : "";
    if (!state.current && page.items.length) await select(page.items[0].id);
    const trends = await api("trends", { limit: 50 });
    drawTrends(trends.items);
  }

  async function select(id) {
    state.current = id;
    for (const li of $("runs").children) li.classList.remove("sel");
    const index = state.runs.findIndex((r) => r.id === id);
    if (index >= 0) $("runs").children[index].classList.add("sel");
    await renderRun(id);
  }

  async function renderRun(id) {
    const p = { run: id, limit: 1000 };
    const [run, workflows, scans, vulns, secrets, decisions, costs] = await Promise.all([
      api("run", { id }), api("workflows", p), api("scans", p), api("vulnerabilities", p),
      api("secrets", p), api("decisions", p), api("costs", p)]);
    $("empty").hidden = true;
    for (const s of ["summary", "timeline-section", "slowest-section", "findings-section", "vulns-section",
      "decisions-section", "costs-section"]) $(s).hidden = false;
    $("run-name").textContent = run.name;
    $("run-meta").textContent = [run.status, "started " + when(run.started),
      run.duration !== null ? fmt(run.duration) + " s" : "", "exit " + (run.exit_status ?? "-"),
      run.project].filter(Boolean).join(" · ");
    $("outcomes").replaceChildren(...Object.entries(run.outcomes).filter(([, n]) => n).map(([k, n]) =>
      el("span", { class: "o-" + k }, k + " " + n)));
    drawTimeline(workflows.items, run);
    fill("slowest", run.slowest, (t) => [t.nodeid, el("span", { class: "o-" + t.outcome }, t.outcome), Number(fmt(t.duration))]);
    state.findings = [...scans.items, ...secrets.items.map((s) => ({ check: "secrets", severity: "high",
      rule_id: s.type, path: s.path, line: s.line, message: s.type + " (hash " + s.hash.slice(0, 12) + ")",
      new: s.new })), ...vulns.items.map((v) => ({ check: "deps", severity: v.severity, rule_id: v.id,
      path: v.path || "", line: 0, message: v.package + " " + v.version + ": " + v.message, new: v.new }))];
    filterOptions("f-check", state.findings.map((f) => f.check));
    filterOptions("f-severity", state.findings.map((f) => f.severity));
    drawFindings();
    fill("vulns", vulns.items, (v) => [v.package, v.version, [v.id, ...v.aliases].join(", "),
      v.fix_versions.join(", ") || "none", el("span", { class: "sev-" + v.severity }, v.severity)]);
    fill("decisions", decisions.items, (d) => [d.kind, d.name, d.action,
      (d.detail.reasons || [d.detail.reason || d.detail.error || ""]).join("; ")]);
    drawBars("cost-module", costs.items.filter((c) => c.group === "module"));
    drawBars("cost-marker", costs.items.filter((c) => c.group === "marker"));
  }

  function filterOptions(id, values) {
    const select = $(id), keep = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"), ...[...new Set(values)].sort().map((v) => el("option", { value: v }, v)));
    select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
  }

  function drawFindings() {
    const check = $("f-check").value, severity = $("f-severity").value;
    const path = $("f-path").value.toLowerCase(), onlyNew = $("f-new").checked;
    const rows = state.findings.filter((f) => (!check || f.check === check) && (!severity || f.severity === severity)
      && (!path || f.path.toLowerCase().includes(path)) && (!onlyNew || f.new));
    fill("findings", rows, (f) => [f.check, el("span", { class: "sev-" + f.severity }, f.severity), f.rule_id,
      f.path + (f.line ? ":" + f.line : ""), f.message, f.new ? el("span", { class: "badge" }, "new") : ""]);
  }
  for (const id of ["f-check", "f-severity", "f-path", "f-new"]) $(id).addEventListener("input", drawFindings);

  function drawTimeline(stages, run) {
    const rows = stages.filter((s) => s.start !== null);
    const box = $("timeline");
    if (!rows.length) { box.textContent = "no stage has started yet"; return; }
    const t0 = Math.min(...rows.map((s) => s.start));
    const t1 = Math.max(...rows.map((s) => s.end ?? s.start), run.ended ?? t0);
    const span = Math.max(t1 - t0, 0.001), W = 760, left = 150, h = 22;
    const chart = svg("svg", { width: "100%", viewBox: `0 0 ${W} ${rows.length * h + 24}`, role: "img" });
    rows.forEach((s, i) => {
      const y = i * h + 4;
      const x = left + ((s.start - t0) / span) * (W - left - 10);
      const w = Math.max((((s.end ?? t1) - s.start) / span) * (W - left - 10), 2);
      chart.append(svg("text", { x: 4, y: y + 14 }, s.name));
      const bar = svg("rect", { x, y, width: w, height: h - 6, rx: 3,
        fill: { passed: "#2e8b57", failed: "#c0392b", skipped: "#b58900" }[s.status] || "#2f6fdb" });
      bar.append(svg("title", {}, `${s.name}: ${s.status} ${fmt(s.duration)} s ${s.reason || ""}`));
      chart.append(bar);
    });
    chart.append(svg("text", { x: left, y: rows.length * h + 18 }, "0 s"));
    chart.append(svg("text", { x: W - 60, y: rows.length * h + 18 }, fmt(span) + " s"));
    box.replaceChildren(chart);
  }

  function drawBars(id, items) {
    const box = $(id);
    if (!items.length) { box.textContent = "no tests ran"; return; }
    const top = items.slice().sort((a, b) => b.seconds - a.seconds).slice(0, 12);
    const max = Math.max(...top.map((c) => c.seconds), 1e-9), W = 420, h = 18, left = 170;
    const chart = svg("svg", { width: "100%", viewBox: `0 0 ${W} ${top.length * h + 4}` });
    top.forEach((c, i) => {
      const y = i * h + 2;
      chart.append(svg("text", { x: 2, y: y + 12 }, c.name.length > 26 ? "…" + c.name.slice(-25) : c.name));
      chart.append(svg("rect", { x: left, y, height: h - 5, width: Math.max((c.seconds / max) * (W - left - 70), 1), fill: "#2f6fdb" }));
      chart.append(svg("text", { x: W - 66, y: y + 12 }, fmt(c.seconds) + " s" + (c.money !== null ? " · " + c.money.toFixed(4) : "")));
    });
    box.replaceChildren(chart);
  }

  function drawTrends(items) {
    if (!items || items.length < 1) return;
    $("trends-section").hidden = false;
    const runs = items.slice().reverse();
    for (const [id, key] of [["trend-findings", "findings"], ["trend-duration", "duration"], ["trend-cost", "cost_seconds"]]) {
      const values = runs.map((r) => Number(r[key] || 0)), max = Math.max(...values, 1e-9), W = 300, H = 90;
      const step = values.length > 1 ? (W - 20) / (values.length - 1) : 0;
      const pts = values.map((v, i) => `${10 + i * step},${H - 10 - (v / max) * (H - 25)}`);
      const chart = svg("svg", { width: "100%", viewBox: `0 0 ${W} ${H}` });
      chart.append(svg("line", { x1: 10, y1: H - 10, x2: W - 10, y2: H - 10, class: "axis" }));
      chart.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: "#2f6fdb", "stroke-width": 2 }));
      pts.forEach((p, i) => { const [x, y] = p.split(","); const dot = svg("circle", { cx: x, cy: y, r: 3, fill: "#2f6fdb" });
        dot.append(svg("title", {}, `${runs[i].name}: ${values[i]}`)); chart.append(dot); });
      chart.append(svg("text", { x: 12, y: 12 }, "max " + fmt(max)));
      $(id).replaceChildren(chart);
    }
  }

  function follow() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws${token ? "?token=" + encodeURIComponent(token) : ""}`);
    ws.onopen = () => { $("live").textContent = "live"; $("live").className = "live on"; };
    ws.onclose = () => { $("live").textContent = "offline"; $("live").className = "live off"; setTimeout(follow, 3000); };
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "run.started") state.current = event.run_id;
      clearTimeout(state.refresh);
      state.refresh = setTimeout(() => loadRuns().then(() => state.current && renderRun(state.current)), 400);
    };
  }

  if (embedded) {
    $("runs-panel").hidden = true;
    $("live").textContent = "report";
    renderRun(embedded.run.id);
  } else {
    loadRuns().then(follow);
  }
})();
