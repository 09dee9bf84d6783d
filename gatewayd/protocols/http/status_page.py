"""The status page: one self-contained HTML document (no CDN, no external file) that draws
the status report with its own inline script and SVG charts, and refreshes itself from
/admin/status.json. The first report is inlined, so the page shows at once."""

import json

REFRESH_S = 5


def status_page(report: dict) -> str:
    data = json.dumps(report, separators=(",", ":")).replace("<", "\\u003c")
    return PAGE.replace("__REPORT__", data).replace("__REFRESH_MS__", str(REFRESH_S * 1000))


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:"
)
"""Nothing but the page itself and its own status.json may load."""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gatewayd status</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --bg: #f6f7f9; --ok: #1a7f37;
          --warn: #b35900; --bad: #c62828; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px;
           background: #1d2330; color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  header span { color: #b8c0d0; font-size: 13px; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr));
         gap: 16px; padding: 16px 24px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
            padding: 12px 16px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em;
       color: var(--muted); }
  h3 { font-size: 15px; margin: 10px 0 6px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
           white-space: nowrap; }
  th { font-weight: 600; color: var(--muted); font-size: 12px; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  td.err { white-space: normal; color: var(--bad); font-size: 12px; }
  td.quota { white-space: normal; font-size: 12px; }
  .state { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
           font-weight: 600; color: #fff; background: var(--bad); }
  .state.up { background: var(--ok); } .state.connecting { background: var(--warn); }
  .empty { color: var(--muted); font-style: italic; }
  .charts { display: grid; grid-template-columns: 2fr 1fr; gap: 16px; }
  svg { width: 100%; height: 180px; display: block; }
  svg text { font-size: 11px; fill: var(--muted); }
  .legend { font-size: 12px; color: var(--muted); }
  .legend b { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
              margin: 0 4px 0 12px; vertical-align: -1px; }
  #stale, #storage { color: #ffb4a8; }
</style>
</head>
<body>
<header>
  <h1>gatewayd</h1><span id="when"></span><span id="stale"></span><span id="storage"></span>
</header>
<main>
  <section class="wide"><h2>Last hour</h2>
    <div class="charts">
      <div><h3>Messages submitted per second, per carrier</h3>
        <svg id="chart-submits" viewBox="0 0 640 180" preserveAspectRatio="none"></svg>
        <div class="legend" id="legend-submits"></div></div>
      <div><h3>Webhook backlog</h3>
        <svg id="chart-backlog" viewBox="0 0 320 180" preserveAspectRatio="none"></svg></div>
    </div>
  </section>
  <section class="wide"><h2>Carriers</h2><div id="carriers"></div></section>
  <section><h2>Queue per carrier</h2><div id="queue-carriers"></div></section>
  <section><h2>Queue per application</h2><div id="queue-applications"></div></section>
  <section><h2>Webhook backlog</h2><div id="webhooks"></div></section>
  <section><h2>Receipts waiting for their part</h2><div id="receipts"></div></section>
  <section><h2>Front doors</h2><div id="requests"></div><div id="accepted"></div>
    <div id="refusals"></div></section>
  <section><h2>Database</h2><div id="database"></div></section>
  <section class="wide"><h2>Nodes</h2><div id="instances"></div></section>
</main>
<script id="report" type="application/json">__REPORT__</script>
<script>
"use strict";
const COLORS = ["#2f6fde", "#e07b00", "#1a7f37", "#9c27b0", "#c62828", "#00838f"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child === null ? "" : child);
  return node;
}

function num(value, digits) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en", {maximumFractionDigits: digits ?? 0});
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function since(iso, now) {
  return iso ? age((Date.parse(now) - Date.parse(iso)) / 1000) + " ago" : "–";
}

function clock(iso) {
  return iso.replace("T", " ").slice(0, 19) + " UTC";
}

function bytes(value) {
  if (value === null || value === undefined) return "not measured yet";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
  return num(value, 1) + " " + units[i];
}

function table(columns, rows, emptyText) {
  if (!rows.length) return el("p", {class: "empty"}, emptyText);
  const head = el("tr", {}, ...columns.map(c => el("th", {class: c.n ? "n" : ""}, c.title)));
  const body = rows.map(row => el("tr", row.attrs || {}, ...columns.map(c => {
    const value = c.value(row);
    return el("td", {class: c.n ? "n" : (c.cls || "")}, value);
  })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

function isUp(state) {
  return ["tx", "rx", "trx"].includes(state);
}

function stateBadge(state) {
  return el("span", {class: "state " + (isUp(state) ? "up" : state)}, state);
}

function rate(counted) {
  return num(counted.per_s_1m, 2) + " / " + num(counted.per_s_1h, 2);
}

function carriers(report) {
  const box = document.getElementById("carriers");
  box.replaceChildren();
  if (!report.carriers.length) box.append(el("p", {class: "empty"}, "no carriers"));
  box.append(table([
    {title: "carrier", value: c => c.suspended
      ? el("span", {}, el("b", {}, c.name), " ", el("span", {class: "state"}, "suspended"))
      : el("b", {}, c.name)},
    {title: "binds up", value: c => c.binds.filter(b => isUp(b.state)).length
      + " of " + c.binds.length},
    {title: "window in use", n: true, value: c => c.window.in_use + " / " + c.window.size},
    {title: "submits (total)", n: true, value: c => num(c.submits.total)},
    {title: "submits/s 1 min / 1 h", n: true, value: c => rate(c.submits)},
    {title: "receipts/s 1 min / 1 h", n: true, value: c => rate(c.receipts)},
    {title: "throttled", n: true, value: c => num(c.throttled.total)},
    {title: "errors", n: true, value: c => num(c.submit_errors.total)},
    {title: "last error", cls: "err", value: c => c.last_submit_error
      ? c.last_submit_error + " (" + since(c.last_submit_error_at, report.time) + ")" : ""},
  ], report.carriers.map(c => ({...c, attrs: {"data-carrier": c.name}})), ""));
  box.append(table([
    {title: "bind", value: b => b.name},
    {title: "state", value: b => stateBadge(b.state)},
    {title: "since", value: b => since(b.since, report.time)},
    {title: "in flight", n: true, value: b => num(b.in_flight)},
    {title: "last link error", cls: "err", value: b => b.last_error
      ? b.last_error + " (" + since(b.last_error_at, report.time) + ")" : ""},
  ], report.carriers.flatMap(c => c.binds.map(b => ({...b, attrs: {"data-bind": b.name}}))),
  "no binds"));
}

function quotaText(quotas) {
  const label = q => q.owner === "trial" ? "trial" : q.owner + " per " + q.period;
  return (quotas || []).map(q => label(q) + ": " + num(q.remaining) + " of " + num(q.limit)
    + " " + q.unit + " left").join("; ");
}

function queue(id, rows) {
  const columns = [
    {title: "name", value: q => q.name},
    {title: "queued", n: true, value: q => num(q.queued)},
    {title: "scheduled", n: true, value: q => num(q.scheduled)},
    {title: "in flight", n: true, value: q => num(q.in_flight)},
    {title: "oldest queued", n: true, value: q => age(q.oldest_age_s)},
  ];
  if (rows.some(q => q.quotas && q.quotas.length)) {
    columns.push({title: "quota left", cls: "quota", value: q => quotaText(q.quotas)});
  }
  document.getElementById(id).replaceChildren(table(columns, rows, "nothing waiting"));
}

function chart(svg, times, series, legend) {
  const width = svg.viewBox.baseVal.width, height = svg.viewBox.baseVal.height;
  const left = 40, bottom = 18, top = 8, right = 8;
  const ns = "http://www.w3.org/2000/svg";
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  svg.replaceChildren();
  const values = Object.values(series).flat();
  const max = Math.max(1, ...values);
  const t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 1;
  const x = t => left + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (width - left - right);
  const y = v => top + (1 - v / max) * (height - top - bottom);
  for (const fraction of [0, 0.5, 1]) {
    const v = max * fraction;
    svg.append(node("line", {x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#e3e6ec"}));
    svg.append(node("text", {x: left - 4, y: y(v) + 4, "text-anchor": "end"}, num(v, 1)));
  }
  if (times.length) {
    svg.append(node("text", {x: left, y: height - 4}, age(t1 - t0) + " ago"));
    svg.append(node("text", {x: width - right, y: height - 4, "text-anchor": "end"}, "now"));
  }
  if (legend) legend.replaceChildren();
  Object.entries(series).forEach(([name, points], i) => {
    const color = COLORS[i % COLORS.length];
    const path = points.map((v, j) => x(times[j]).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    svg.append(node("polyline", {points: path, fill: "none", stroke: color, "stroke-width": 2,
      "vector-effect": "non-scaling-stroke", "data-series": name,
      "data-points": points.length}));
    if (legend) legend.append(el("b", {style: "background:" + color}), name.split("/")[1]);
  });
}

function render(report) {
  document.getElementById("storage").textContent = report.storage_error
    ? "database unreachable, queues not shown: " + report.storage_error : "";
  const here = report.instances.find(i => i.this);
  document.getElementById("when").textContent = (here ? here.node_id + " · " : "")
    + "as of " + clock(report.time) + " · refreshed every "
    + __REFRESH_MS__ / 1000 + " s";
  const submits = {}, backlog = {};
  for (const [name, points] of Object.entries(report.history.series)) {
    (name.startsWith("submits/") ? submits : backlog)[name] = points;
  }
  chart(document.getElementById("chart-submits"), report.history.times, submits,
        document.getElementById("legend-submits"));
  chart(document.getElementById("chart-backlog"), report.history.times, backlog, null);
  carriers(report);
  queue("queue-carriers", report.queues.by_carrier);
  queue("queue-applications", report.queues.by_application);
  document.getElementById("webhooks").replaceChildren(table([
    {title: "application", value: w => w.application},
    {title: "host", value: w => w.host},
    {title: "pending", n: true, value: w => num(w.pending)},
    {title: "oldest", n: true, value: w => age(w.oldest_age_s)},
    {title: "last error", cls: "err", value: w => w.last_error || ""},
  ], report.webhooks.groups, "no backlog"));
  document.getElementById("receipts").replaceChildren(table([
    {title: "carrier", value: r => r.carrier},
    {title: "waiting", n: true, value: r => num(r.waiting)},
    {title: "oldest", n: true, value: r => age(r.oldest_age_s)},
  ], report.receipts_waiting.groups, "none waiting"));
  document.getElementById("requests").replaceChildren(table([
    {title: "listener", value: r => r.name},
    {title: "requests (total)", n: true, value: r => num(r.total)},
    {title: "per s 1 min / 1 h", n: true, value: r => rate(r)},
  ], report.front_doors.requests, "no requests yet"));
  document.getElementById("accepted").replaceChildren(el("h3", {}, "Messages accepted"),
    table([
      {title: "front door", value: r => r.name},
      {title: "total", n: true, value: r => num(r.total)},
      {title: "per s 1 min / 1 h", n: true, value: r => rate(r)},
    ], report.front_doors.accepted, "none yet"));
  document.getElementById("refusals").replaceChildren(el("h3", {}, "Refusals by ResultCode"),
    table([
      {title: "ResultCode", n: true, value: r => r.name},
      {title: "description", value: r => r.description},
      {title: "total", n: true, value: r => num(r.total)},
      {title: "per s 1 min / 1 h", n: true, value: r => rate(r)},
    ], report.front_doors.refusals, "none refused"));
  const db = report.database, kept = db.retention;
  const rows = Object.entries(db.table_rows).map(([name, count]) => ({name, count}));
  document.getElementById("database").replaceChildren(
    el("p", {}, el("b", {}, db.dialect), ", " + bytes(db.bytes) + "; retention every "
      + kept.every_s + " s, messages kept " + (kept.messages_days ?? "forever")
      + " days; last sweep " + (kept.last_sweep ? since(kept.last_sweep, report.time) : "not yet")
      + (kept.last_error ? " (failed: " + kept.last_error + ")" : "")),
    table([{title: "table", value: r => r.name},
           {title: "rows", n: true, value: r => num(r.count)}], rows, "not measured yet"));
  document.getElementById("instances").replaceChildren(table([
    {title: "node", value: i => i.node_id + (i.this ? " (this one)" : "")},
    {title: "instance", value: i => i.id},
    {title: "pid", n: true, value: i => i.pid},
    {title: "started", value: i => since(i.started, report.time)},
    {title: "lease", value: i => (i.alive ? "held until " : "ran out at ") + clock(i.lease_until)},
  ], report.instances, "no instance registered"));
}

function statusUrl() {
  // Without the user:token of an address typed as http://admin:TOKEN@host/ (which fetch
  // refuses): the browser sends the Basic credentials it holds for this page's realm.
  const url = new URL("status.json", location.href);
  url.username = url.password = "";
  return url;
}

async function refresh() {
  try {
    const answer = await fetch(statusUrl(), {credentials: "same-origin", cache: "no-store"});
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    render(await answer.json());
    document.body.dataset.refreshes = Number(document.body.dataset.refreshes || 0) + 1;
    document.getElementById("stale").textContent = "";
  } catch (error) {
    document.getElementById("stale").textContent = "not refreshed: " + error.message;
  }
  setTimeout(refresh, __REFRESH_MS__);  // after the answer: a slow one never piles up
}

render(JSON.parse(document.getElementById("report").textContent));
setTimeout(refresh, __REFRESH_MS__);
</script>
</body>
</html>
"""
