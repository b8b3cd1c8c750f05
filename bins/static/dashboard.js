// Switchboard dashboard: polls /api/dashboard once a second and draws the last few minutes on
// canvases (no chart library: the page works offline under the node's strict CSP).
"use strict";

const POLL_MS = 1000;
const KEEP = 180; // points per series: three minutes at one a second
const COLOURS = ["#2b63d9", "#d9482b", "#2ba36b", "#a32bd9", "#d9a12b", "#2bb5d9", "#6b6b6b", "#d92b86"];

const history = []; // { at, cluster, nodes: { name: node } }
const colourOf = new Map();
let token = sessionStorage.getItem("switchboard-admin-token") || "";

function colour(node) {
  if (!colourOf.has(node)) colourOf.set(node, COLOURS[colourOf.size % COLOURS.length]);
  return colourOf.get(node);
}

function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const abs = Math.abs(v);
  const s = abs >= 1e9 ? (v / 1e9).toFixed(1) + "G" : abs >= 1e6 ? (v / 1e6).toFixed(1) + "M"
    : abs >= 1e4 ? (v / 1e3).toFixed(1) + "k" : abs >= 100 || Number.isInteger(v) ? Math.round(v).toString()
    : v.toFixed(abs >= 1 ? 1 : 2);
  return s + (unit || "");
}

async function poll() {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  let res;
  try {
    res = await fetch("/api/dashboard", { headers, cache: "no-store" });
  } catch (e) {
    return fail("node unreachable");
  }
  if (res.status === 401) {
    document.getElementById("token-form").hidden = false;
    return fail(token ? "wrong admin token" : "admin token required");
  }
  if (!res.ok) return fail("error " + res.status);
  const data = await res.json();
  document.getElementById("token-form").hidden = true;
  const nodes = {};
  for (const n of data.nodes) nodes[n.node] = n;
  history.push({ at: data.at_ms, cluster: data.cluster, nodes });
  if (history.length > KEEP) history.shift();
  render(data);
}

function fail(why) {
  document.body.dataset.state = "error";
  document.getElementById("summary").textContent = why;
}

function render(data) {
  const c = data.cluster;
  document.body.dataset.state = "live";
  document.body.dataset.nodes = data.nodes.length;
  document.getElementById("summary").textContent =
    `${c.nodes} node${c.nodes === 1 ? "" : "s"} · seen from ${data.me} · ring: ${data.ring.join(", ")}`;
  // [label, value, unit, what it counts]: the last shows as the tile's tooltip and small print.
  const totals = [
    ["Connections", c.connections, "", "open WebSockets"],
    ["Rooms", c.rooms, "", "rooms active on their owner node"],
    ["Messages/s", c.messages_per_s, "", "messages given a position by their room's owner"],
    ["Deliveries/s", c.deliveries_per_s, "", "events written to sockets"],
    ["Connects/s", c.connects_per_s, "", "WebSockets opened"],
    ["Between nodes/s", c.forwarded_per_s, "",
      "envelopes sent to other nodes over Redis: commands, deliveries, replies (not messages)"],
    ["Errors/s", c.errors_per_s, "", "commands answered with an error code"],
    ["p50 deliver", c.deliver_p50_ms, " ms", "send to delivery"],
    ["p99 deliver", c.deliver_p99_ms, " ms", "send to delivery"],
    ["p99 stored", c.stored_p99_ms, " ms", "send to durable (sent)"],
    ["Write-behind queued", c.write_behind_queued, "", "messages accepted, not yet stored"],
  ];
  const dl = document.getElementById("totals");
  dl.replaceChildren(...totals.map(([label, v, unit, what]) => {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    const small = document.createElement("small");
    dt.textContent = label;
    dd.textContent = fmt(v, unit);
    small.textContent = what;
    div.title = what;
    div.append(dt, dd, small);
    return div;
  }));
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren(...data.nodes.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.node;
    const cells = [n.node, n.addr, n.version + " " + n.commit, fmt(n.connections), fmt(n.rooms),
      fmt(n.messages_per_s), fmt(n.deliveries_per_s), fmt(n.deliver_p99_ms, " ms"),
      fmt(n.stored_p99_ms, " ms"), fmt(n.cpu_percent, "%"), fmt(n.rss_bytes, "B"), n.ring.join(", ")];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 0) {
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = colour(n.node); // CSSOM, which the CSP allows
        td.append(sw);
      }
      td.append(text);
      tr.append(td);
    });
    return tr;
  }));
  for (const canvas of document.querySelectorAll("canvas")) draw(canvas);
}

// The series a chart shows: one per node of a node metric, or the named cluster metrics.
function seriesOf(canvas) {
  if (canvas.dataset.perNode) {
    const names = new Set();
    for (const h of history) for (const n of Object.keys(h.nodes)) names.add(n);
    return [...names].sort().map((node) => ({
      label: node, colour: colour(node),
      points: history.map((h) => (h.nodes[node] ? h.nodes[node][canvas.dataset.metric] : null)),
    }));
  }
  return canvas.dataset.series.split(",").map((key, i) => ({
    label: key, colour: COLOURS[i % COLOURS.length],
    points: history.map((h) => h.cluster[key]),
  }));
}

// The axis's top: at least the largest value, a round number whose quarters read well, and 1
// for a chart of zeros (whose ticks would otherwise all print as 0).
function niceCeiling(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 5, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function draw(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio) { canvas.width = w * ratio; canvas.height = h * ratio; }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const series = seriesOf(canvas);
  const unit = canvas.dataset.unit;
  const values = series.flatMap((s) => s.points).filter((v) => v !== null && v !== undefined);
  const max = niceCeiling(Math.max(0, ...values));
  const left = 48, right = 8, top = 8, bottom = 18;
  const pw = w - left - right, ph = h - top - bottom;
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = "#e4e7eb"; g.fillStyle = "#667"; g.lineWidth = 1;
  const ticks = [];
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
    ticks.push(fmt((max * i) / 4, unit));
    g.fillText(ticks[i], 2, y + 4);
  }
  canvas.dataset.ticks = ticks.join("|");
  g.fillText(`${history.length} s`, left, h - 4);
  const step = pw / Math.max(1, KEEP - 1);
  const x0 = left + pw - step * (history.length - 1);
  let latest = 0;
  let legend = left + 6;
  series.forEach((s) => {
    g.strokeStyle = s.colour; g.lineWidth = 1.6; g.beginPath();
    let pen = false;
    s.points.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      const x = x0 + i * step, y = top + ph - (ph * v) / max;
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    });
    g.stroke();
    const last = s.points[s.points.length - 1];
    if (last) latest += last;
    g.fillStyle = s.colour;
    const text = `${s.label} ${fmt(last, unit)}`;
    g.fillText(text, legend, top + 10);
    legend += g.measureText(text).width + 14;
  });
  canvas.dataset.points = history.length;
  canvas.dataset.latest = latest;
}

document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = document.getElementById("token").value;
  sessionStorage.setItem("switchboard-admin-token", token);
  poll();
});

poll();
setInterval(poll, POLL_MS);
