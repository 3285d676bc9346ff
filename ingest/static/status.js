// city-ingest status page: polls /api/status and draws it. No libraries, nothing external.
// Every value from the service is inserted as text (textContent, setAttribute), never as HTML:
// device names come from a registry anyone may edit.
"use strict";

// ?poll=SECONDS sets the interval (default 5 s, at least 1 s): slower for a wall display.
const POLL_S = Number(new URLSearchParams(window.location.search).get("poll")) || 5;
const POLL_MS = Math.max(1, POLL_S) * 1000;
const RATE_WINDOW_MS = 60000; // rates are per minute over the samples of the last minute
const BATTERY_LOW_V = 3.3; // a 3.6 V lithium cell under 3.3 V is near its end
const WEAK_RSSI_DBM = -115; // within ~10 dB of LoRa SF12 sensitivity: uplinks start to fail
const QC_NAMES = { 1: "pass", 3: "suspect", 4: "fail" }; // IOOS QARTOD flag values
const PROBLEM_NAMES = { silent: "silent", battery: "battery low", qc: "QC", rssi: "weak signal" };
const OUTCOMES = ["received", "written", "duplicate", "dead_letter"];
const SVG = "http://www.w3.org/2000/svg";

const state = { status: null, samples: [], sort: { key: "device", dir: 1 } };

function byId(id) {
  return document.getElementById(id);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function problemsOf(device) {
  const problems = [];
  if (device.silent) problems.push("silent");
  if (device.battery_v !== null && device.battery_v < BATTERY_LOW_V) problems.push("battery");
  if (device.qc === 3 || device.qc === 4) problems.push("qc");
  if (device.rssi !== null && device.rssi < WEAK_RSSI_DBM) problems.push("rssi");
  return problems;
}

function problemLabel(device, problem) {
  return problem === "qc" ? `QC ${QC_NAMES[device.qc]}` : PROBLEM_NAMES[problem];
}

function ago(nowNs, thenNs) {
  if (!thenNs) return "never";
  const s = Math.max(0, (nowNs - thenNs) / 1e9);
  if (s < 120) return `${Math.round(s)} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function counts(status) {
  return { received: status.received, ...status.outcomes };
}

function showRates(status) {
  const now = status.time_ns / 1e6;
  const current = counts(status);
  const restarted = state.samples.some((s) => s.counts.received > current.received);
  state.samples = restarted ? [] : state.samples.filter((s) => now - s.ms <= RATE_WINDOW_MS);
  state.samples.push({ ms: now, counts: current });
  const first = state.samples[0];
  const minutes = (now - first.ms) / 60000;
  for (const outcome of OUTCOMES) {
    const total = current[outcome] || 0;
    const rate = minutes > 0 ? (total - (first.counts[outcome] || 0)) / minutes : null;
    byId(`rate-${outcome}`).textContent = rate === null ? "–" : rate.toFixed(rate < 10 ? 1 : 0);
    byId(`total-${outcome}`).textContent = `${total} in total`;
  }
}

function showPipeline(status) {
  showRates(status);
  const spool = status.spool;
  byId("spool").textContent = spool.full ? "FULL" : `${spool.batches} batches`;
  byId("spool").className = spool.full ? "bad" : spool.batches ? "warn" : "good";
  byId("spool-bytes").textContent = `${spool.bytes} bytes`;
  showConnection("mqtt", status.mqtt, "subscribed");
  showConnection("influxdb", status.influxdb, "ready");
}

function showConnection(name, connection, good) {
  const node = byId(`${name}-state`);
  node.textContent = connection.state;
  node.className = connection.state === good ? "good" : "bad";
  byId(`${name}-error`).textContent = connection.error || "";
}

function fillChoices(select, values) {
  const wanted = [...new Set(values)].sort();
  const have = [...select.options].slice(1).map((option) => option.value);
  if (wanted.join("\n") === have.join("\n")) return; // keep an open list undisturbed
  const chosen = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const value of wanted) select.add(new Option(value, value));
  select.value = wanted.includes(chosen) ? chosen : "";
}

function chosenDevices(devices) {
  const district = byId("filter-district").value;
  const kind = byId("filter-kind").value;
  const problem = byId("filter-problem").value;
  return devices.filter((d) => {
    const problems = problemsOf(d);
    if (district && d.district !== district) return false;
    if (kind && d.kind !== kind) return false;
    if (problem === "any") return problems.length > 0;
    if (problem === "none") return problems.length === 0;
    return !problem || problems.includes(problem);
  });
}

function sortKey(device, key) {
  if (key === "problems") return problemsOf(device).length;
  if (key === "silent") return device.silent ? 1 : 0;
  return device[key];
}

function sorted(devices) {
  const { key, dir } = state.sort;
  return [...devices].sort((a, b) => {
    const x = sortKey(a, key);
    const y = sortKey(b, key);
    if (x === y) return a.device < b.device ? -1 : 1;
    if (x === null || x === undefined) return 1; // unknown values last in both directions
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
}

function deviceRow(device, nowNs) {
  const problems = problemsOf(device);
  const row = element("tr");
  row.dataset.device = device.device;
  row.classList.toggle("problem", problems.length > 0);
  for (const problem of problems) row.classList.add(`problem-${problem}`);
  const seen = element("td", ago(nowNs, device.last_seen_ns));
  if (device.last_seen_ns) seen.title = new Date(device.last_seen_ns / 1e6).toISOString();
  const cells = [
    element("td", device.device, "name"),
    element("td", device.kind),
    element("td", device.district),
    seen,
    element("td", device.battery_v === null ? "–" : device.battery_v.toFixed(2), "number"),
    element("td", device.rssi === null ? "–" : String(Math.round(device.rssi)), "number"),
    element("td", device.qc ? QC_NAMES[device.qc] : "–", `qc-${device.qc || "none"}`),
    element("td", device.silent ? "yes" : "no"),
    element("td", problems.map((p) => problemLabel(device, p)).join(", ")),
  ];
  row.append(...cells);
  return row;
}

function showDevices(status) {
  const devices = status.devices;
  fillChoices(byId("filter-district"), devices.map((d) => d.district));
  fillChoices(byId("filter-kind"), devices.map((d) => d.kind));
  const chosen = sorted(chosenDevices(devices));
  const body = document.querySelector("#device-table tbody");
  body.replaceChildren(...chosen.map((d) => deviceRow(d, status.time_ns)));
  byId("device-count").textContent = `${chosen.length} of ${devices.length} devices`;
  drawMap(devices, chosen);
}

// An equirectangular projection of the devices' bounding box (longitude scaled by the cosine
// of the middle latitude, so a city's shape is kept): no tiles, no external server.
function projection(devices, size, margin) {
  const lats = devices.map((d) => d.lat);
  const lons = devices.map((d) => d.lon);
  const [south, north] = [Math.min(...lats), Math.max(...lats)];
  const [west, east] = [Math.min(...lons), Math.max(...lons)];
  const squeeze = Math.cos(((south + north) / 2) * (Math.PI / 180));
  const span = Math.max((east - west) * squeeze, north - south, 1e-3);
  const scale = (size - 2 * margin) / span;
  const left = margin + (size - 2 * margin - (east - west) * squeeze * scale) / 2;
  const top = margin + (size - 2 * margin - (north - south) * scale) / 2;
  return (d) => [left + (d.lon - west) * squeeze * scale, top + (north - d.lat) * scale];
}

function svgNode(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function districtLabels(devices, place) {
  const groups = new Map();
  for (const d of devices) groups.set(d.district, [...(groups.get(d.district) || []), place(d)]);
  return [...groups].map(([district, points]) => {
    const x = points.reduce((sum, p) => sum + p[0], 0) / points.length;
    const y = points.reduce((sum, p) => sum + p[1], 0) / points.length;
    const inside = Math.min(Math.max(x, 50), 350); // keep a long name within the frame
    return svgNode("text", { x: inside, y: y - 10, class: "district" }, district);
  });
}

function drawMap(devices, chosen) {
  const svg = byId("map-svg");
  if (!devices.length) {
    svg.replaceChildren();
    return;
  }
  const place = projection(devices, 400, 30);
  const dots = chosen.map((d) => {
    const problems = problemsOf(d);
    const kind = d.silent ? "silent" : problems.length ? "problem" : "ok";
    const [cx, cy] = place(d);
    const dot = svgNode("circle", { cx, cy, r: 6, class: `dot ${kind}` });
    const label = [d.device, d.kind, d.district, ...problems.map((p) => problemLabel(d, p))];
    dot.append(svgNode("title", {}, label.join(" · ")));
    return dot;
  });
  const frame = svgNode("rect", { x: 1, y: 1, width: 398, height: 398, class: "frame" });
  svg.replaceChildren(frame, ...districtLabels(devices, place), ...dots);
  byId("map-note").textContent = `${chosen.length} shown; citizen devices on a coarse grid`;
}

function showLetters(letters) {
  const body = document.querySelector("#letter-table tbody");
  const rows = letters.map((letter) => {
    const row = element("tr");
    const cells = [letter.time, letter.network, letter.reason, letter.detail];
    row.append(...cells.map((text) => element("td", text === null ? "–" : String(text))));
    return row;
  });
  if (!rows.length) {
    const cell = element("td", "none");
    cell.colSpan = 4;
    rows.push(element("tr"));
    rows[0].append(cell);
  }
  body.replaceChildren(...rows);
}

function render() {
  const status = state.status;
  if (!status) return;
  showDevices(status);
  document.querySelectorAll("#device-table th").forEach((th) => {
    const sorting = th.dataset.key === state.sort.key;
    const direction = state.sort.dir > 0 ? "ascending" : "descending";
    if (sorting) th.setAttribute("aria-sort", direction);
    else th.removeAttribute("aria-sort");
  });
}

async function poll() {
  const updated = byId("updated");
  try {
    const response = await fetch("api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    state.status = status;
    showPipeline(status);
    showLetters(status.dead_letters);
    render();
    updated.textContent = `updated ${new Date(status.time_ns / 1e6).toISOString()}`;
    updated.className = "";
  } catch (error) {
    updated.textContent = `status unavailable (${error.message}); retrying`;
    updated.className = "bad";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function start() {
  document.querySelectorAll("#device-table th").forEach((th) => {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.key;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      render();
    });
  });
  byId("filters").addEventListener("change", render);
  byId("filters").addEventListener("submit", (event) => event.preventDefault());
  poll();
}

start();
