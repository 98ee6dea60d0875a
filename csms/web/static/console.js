// The console's pages: each listens to its topic of the live feed (/live, server-sent
// events) and re-renders its live part from the snapshot; controls stay put between renders.
"use strict";

const main = document.getElementById("main");
const view = document.getElementById("view");
const statusLine = main.querySelector(".status");
const csrf = document.querySelector('meta[name="csrf-token"]').content;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const kw = w => (w / 1000).toFixed(1) + " kW";
const kwh = wh => (wh / 1000).toFixed(1) + " kWh";
const pct = v => (v * 100).toFixed(0) + " %";
const time = iso => iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–";
const hhmm = iso => new Date(iso).toISOString().slice(11, 16);
const enc = encodeURIComponent;

function table(caption, headers, rows, empty) {
  if (!rows.length) return h("p", {class: "empty"}, empty || `No ${caption.toLowerCase()}.`);
  return h("div", {class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption},
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map(t => h("th", {scope: "col"}, t)))),
      h("tbody", {}, rows.map(r => h("tr", {}, r.map((c, i) =>
        i === 0 ? h("th", {scope: "row"}, c) : h("td", {}, c)))))));
}

function facts(pairs) {
  return h("dl", {class: "facts"}, pairs.map(([k, v, cls]) =>
    h("div", {class: "fact " + (cls || "")}, h("dt", {}, k), h("dd", {}, v))));
}

// Re-rendering must not take the keyboard focus or an opened <details> away from the
// operator: both are found again by their key (data-key, href or id) in the new content.
function keyOf(el) {
  return el.dataset.key || el.getAttribute("href") || el.id || null;
}

function findKey(root, key) {
  return [...root.querySelectorAll("[data-key], a[href], [id]")].find(el => keyOf(el) === key);
}

function replace(target, ...children) {
  const focused = target.contains(document.activeElement) ? keyOf(document.activeElement) : null;
  const opened = [...target.querySelectorAll("details[open]")].map(keyOf);
  target.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined));
  for (const key of opened) { const el = findKey(target, key); if (el) el.open = true; }
  if (focused) { const el = findKey(target, focused); if (el) el.focus(); }
}

// One live stream at a time per page part; a new one (new search, new page) replaces it.
function stream(topic, params, render) {
  const query = new URLSearchParams({topic, ...params});
  const source = new EventSource("/live?" + query);
  source.onmessage = (event) => {
    render(JSON.parse(event.data));
    statusLine.textContent = "Live · updated " + new Date().toLocaleTimeString();
  };
  source.onerror = () => { statusLine.textContent = "Live feed interrupted; reconnecting…"; };
  return source;
}

async function send(url, method, payload) {
  const reply = await fetch(url, {
    method,
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const text = await reply.text();
  let data;
  try { data = JSON.parse(text); } catch (_) { data = {error: text}; }
  return {ok: reply.ok, status: reply.status, data};
}

// ---- overview ---------------------------------------------------------------------------

function renderOverview(d) {
  replace(view,
    h("section", {"aria-labelledby": "net"}, h("h2", {id: "net"}, "Network"),
      facts([
        ["Stations", d.stations.total],
        ["Online", d.stations.online, "good"],
        ["Offline", d.stations.offline, d.stations.offline ? "warn" : ""],
        ["Faulted", d.faulted, d.faulted ? "bad" : ""],
        ["Active sessions", d.active_sessions],
        ["Charging now", kw(d.charging_w)],
        ["Discharging now", kw(d.discharging_w)],
        ["Energy today (sessions since 00:00 UTC)", kwh(d.energy_today_wh)],
        ["Fed back today", kwh(d.discharged_today_wh)],
      ])),
    h("section", {"aria-labelledby": "events"}, h("h2", {id: "events"}, "Grid events in force"),
      table("Grid events", ["Event", "Node", "Kind", "Max net", "Until"],
        d.grid_events.map(e => [String(e.id), e.node, e.kind, kw(e.max_net_w), time(e.end)]))),
    h("section", {"aria-labelledby": "alerts"}, h("h2", {id: "alerts"}, "Open safety alerts"),
      table("Safety alerts", ["Raised", "Station", "EVSE", "Kind", "Severity", "Action", "Why"],
        d.safety_alerts.map(a => [time(a.raised_at), h("a", {href: "/stations/" + enc(a.station_id)}, a.station_id),
          String(a.evse_id || "station"), a.kind.replaceAll("_", " "), a.severity,
          a.action + (a.derate_w != null ? " to " + kw(a.derate_w) : "") + (a.status === "acknowledged" ? " (acknowledged)" : ""),
          a.reason]))),
    h("section", {"aria-labelledby": "swapq"}, h("h2", {id: "swapq"}, "Swap queues"),
      table("Swap stations", ["Station", "Queue", "Bays busy"],
        d.swap.map(s => [h("a", {href: "/swap#" + enc(s.id)}, s.id), String(s.queue), `${s.bays_busy} of ${s.bays}`]))));
}

// ---- grid -------------------------------------------------------------------------------

const NEAR = 0.8;

function loadBar(node) {
  const exporting = node.load_w < 0;
  // A grid event in force may cap the import below the node's own limit.
  const capped = !exporting && node.event_cap_w != null && node.event_cap_w < node.import_limit_w;
  const limit = exporting ? node.export_limit_w : capped ? node.event_cap_w : node.import_limit_w;
  const share = limit > 0 ? Math.abs(node.load_w) / limit : 0;
  const state = share > 1 ? "over" : share >= NEAR ? "near" : "ok";
  const word = {over: "✖ over the limit", near: "⚠ near the limit", ok: "within the limit"}[state];
  const bar = h("span", {class: "fill"});
  bar.style.width = Math.min(100, share * 100).toFixed(1) + "%";
  return h("div", {class: "load " + state},
    h("div", {class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": String(limit || 0),
      "aria-valuenow": String(Math.abs(node.load_w)), "aria-label": `${node.id} load`}, bar),
    h("span", {class: "load-text"},
      `${kw(Math.abs(node.load_w))} ${exporting ? "export" : "import"} of ${limit ? kw(limit) : "no limit"}` +
      (capped ? " (grid event)" : "") +
      (limit ? ` (${pct(share)}, ${word})` : "")));
}

let gridSelected = null;

// Per slot, the tightest cap a grid event sets on the node (null outside events).
function eventCaps(plan, events) {
  return plan.slots.map(s => {
    const at = new Date(s.start);
    const caps = events.filter(e => e.kind === "limit" && new Date(e.start) <= at && at < new Date(e.end))
      .map(e => e.max_net_w);
    return caps.length ? Math.min(...caps) : null;
  });
}

function planChart(plan, events) {
  const caps = eventCaps(plan, events);
  return charts.chart({
    title: `Plan of the next ${Math.round(plan.slots.length * (plan.slots.length > 1 ? (new Date(plan.slots[1].start) - new Date(plan.slots[0].start)) / 3600e3 : 1))} h at ${plan.node}`,
    unit: "W",
    labels: plan.slots.map(s => hhmm(s.start)),
    bars: [
      {name: "charge", values: plan.slots.map(s => s.charge_w), cls: "charge", sign: 1},
      {name: "discharge", values: plan.slots.map(s => s.discharge_w), cls: "discharge", sign: -1},
    ],
    lines: [{name: "import price", values: plan.slots.map(s => s.price), cls: "price", right: true},
            ...(caps.some(c => c !== null) ? [{name: "grid event cap", values: caps, cls: "requested"}] : [])],
    hlines: [
      {name: "import limit", value: plan.import_limit_w, cls: "import-limit"},
      {name: "export limit", value: plan.export_limit_w ? -plan.export_limit_w : null, cls: "export-limit"},
    ],
    rightUnit: "per kWh",
  });
}

function reportChart(report) {
  return charts.chart({
    title: `Event ${report.id}: requested vs delivered net power`,
    unit: "W",
    labels: report.slots.map(s => hhmm(s.start)),
    bars: [{name: "delivered", values: report.slots.map(s => Math.max(0, s.delivered_w)), cls: "charge", sign: 1},
           {name: "delivered (export)", values: report.slots.map(s => Math.max(0, -s.delivered_w)), cls: "discharge", sign: -1}],
    lines: [{name: "requested", values: report.slots.map(s => s.requested_w), cls: "requested"}],
  });
}

function renderGrid(d) {
  if (!d) { replace(view, h("p", {}, "No grid topology loaded (cli.py grid load FILE).")); return; }
  const byParent = {};
  for (const n of d.nodes) (byParent[n.parent || ""] ||= []).push(n);
  if (!gridSelected || !d.nodes.some(n => n.id === gridSelected)) gridSelected = d.nodes[0] && d.nodes[0].id;
  const tree = parent => h("ul", {class: "tree"}, (byParent[parent] || []).map(n =>
    h("li", {},
      h("button", {type: "button", class: "node", "data-key": "node:" + n.id, "aria-pressed": String(n.id === gridSelected),
        onclick: () => { gridSelected = n.id; renderGrid(d); }},
        h("strong", {}, n.id), " ", h("span", {class: "kind"}, n.kind)),
      loadBar(n),
      byParent[n.id] ? tree(n.id) : null)));
  const node = d.nodes.find(n => n.id === gridSelected);
  const detail = node ? h("section", {class: "node-detail", "aria-labelledby": "node-h"},
    h("h2", {id: "node-h"}, `Node ${node.id}`),
    node.plan ? [planChart(node.plan, node.events),
      facts([["Valley share of the planned energy", node.plan.valley_share == null ? "–" : pct(node.plan.valley_share)],
             ["Plan made", time(d.plan_at)]])]
      : h("p", {}, "No plan yet."),
    h("h3", {}, "Grid events"),
    table("Grid events at this node", ["Event", "Kind", "Max net", "From", "To", "Slots met"],
      node.events.map(e => [String(e.id), e.kind, kw(e.max_net_w), time(e.start), time(e.end), pct(e.met_share)])),
    node.events.filter(e => e.slots.length).map(reportChart)) : null;
  replace(view, h("div", {class: "grid-layout"},
    h("section", {"aria-labelledby": "tree-h"}, h("h2", {id: "tree-h"}, "Topology"), tree("")), detail));
}

// ---- stations ---------------------------------------------------------------------------

const PAGE = 50;

function stationList() {
  const search = h("input", {id: "q", type: "search", placeholder: "station id contains…", autocomplete: "off"});
  const results = h("div", {id: "results"});
  let offset = 0, source = null, timer = null, total = 0;
  const open = () => {
    if (source) source.close();
    source = stream("stations", {q: search.value, offset: String(offset), limit: String(PAGE)}, (d) => {
      total = d.total;
      replace(results,
        table("Stations", ["Station", "Online", "Connectors", "Node", "Model", "Protocol", "Last seen"],
          d.items.map(s => [h("a", {href: "/stations/" + enc(s.id)}, s.id), s.connected ? "● online" : "○ offline",
            (s.status ? `station ${s.status}; ` : "") + (s.statuses.join(", ") || "–"), s.node || "–", s.model || "–", s.protocol || "–", time(s.last_seen)]),
          "No station matches."),
        h("nav", {class: "pager", "aria-label": "Pages"},
          h("button", {type: "button", "data-key": "previous", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); open(); }}, "← Previous"),
          h("span", {}, d.total ? `${offset + 1}–${Math.min(offset + PAGE, d.total)} of ${d.total}` : "0 stations"),
          h("button", {type: "button", "data-key": "next", disabled: offset + PAGE >= total, onclick: () => { offset += PAGE; open(); }}, "Next →")));
    });
  };
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { offset = 0; open(); }, 250);
  });
  replace(view, h("form", {role: "search", onsubmit: e => e.preventDefault()},
    h("label", {for: "q"}, "Search stations "), search), results);
  open();
}

function commandPanel(stationId) {
  const out = h("p", {class: "answer", role: "status", "aria-live": "polite"});
  const num = (name, label, value) => [h("label", {for: name}, label), h("input", {id: name, name, type: "number", min: "0", value})];
  const run = (action, payload) => async (event) => {
    event.preventDefault();
    out.textContent = `${action}: sending…`;
    const reply = await send(`/api/v1/stations/${enc(stationId)}/commands/${action}`, "POST", payload(event.target));
    out.textContent = `${action}: ` + (reply.ok ? JSON.stringify(reply.data) : `failed (${reply.status}) ${reply.data.error || ""}`);
  };
  const form = (action, label, fields, payload) =>
    h("form", {class: "command", "data-action": action, onsubmit: run(action, payload)},
      h("fieldset", {}, h("legend", {}, label), fields, h("button", {type: "submit"}, label)));
  return h("section", {class: "commands", "aria-labelledby": "cmd-h"},
    h("h2", {id: "cmd-h"}, "Commands"),
    h("div", {class: "command-grid"},
      form("Reset", "Reset", [h("label", {for: "reset-type"}, "When"),
        h("select", {id: "reset-type", name: "type"}, h("option", {}, "OnIdle"), h("option", {}, "Immediate"))],
        f => ({type: f.type.value})),
      form("UnlockConnector", "Unlock", [num("unlock-evse", "EVSE", "1"), num("unlock-connector", "Connector", "1")],
        f => ({evseId: +f["unlock-evse"].value, connectorId: +f["unlock-connector"].value})),
      form("RequestStartTransaction", "Start", [num("start-evse", "EVSE", "1"),
        h("label", {for: "start-token"}, "Id token"), h("input", {id: "start-token", name: "token", required: true})],
        f => ({evseId: +f["start-evse"].value, remoteStartId: Math.floor(Date.now() / 1000) % 2147483647,
               idToken: {idToken: f.token.value, type: "ISO14443"}})),
      form("RequestStopTransaction", "Stop", [h("label", {for: "stop-tx"}, "Transaction id"),
        h("input", {id: "stop-tx", name: "tx", required: true})], f => ({transactionId: f.tx.value})),
      form("ChangeAvailability", "Change availability", [num("avail-evse", "EVSE (0: station)", "0"),
        h("label", {for: "avail-status"}, "Status"),
        h("select", {id: "avail-status", name: "status"}, h("option", {}, "Inoperative"), h("option", {}, "Operative"))],
        f => (+f["avail-evse"].value ? {operationalStatus: f.status.value, evse: {id: +f["avail-evse"].value}}
                                     : {operationalStatus: f.status.value}))),
    out);
}

function stationDetail(stationId) {
  const live = h("div", {id: "station-live"});
  replace(view, live, commandPanel(stationId));
  stream("station", {id: stationId}, (d) => {
    if (!d) { replace(live, h("p", {}, `No station ${stationId}.`)); return; }
    replace(live,
      facts([["Connection", d.connected ? "● online" : "○ offline", d.connected ? "good" : "warn"],
             ["Protocol", d.protocol || "–"], ["Vendor / model", `${d.vendor_name || "–"} / ${d.model || "–"}`],
             ["Firmware", d.firmware_version || "–"], ["Grid node", d.node || "–"], ["Last seen", time(d.last_seen)],
             ["Station status", d.status ? `${d.status} since ${time(d.status_at)}` : "–"]]),
      h("h2", {}, "EVSEs and connectors"),
      table("Connectors", ["EVSE", "Connector", "Status", "Since"],
        d.connectors.map(c => [String(c.evse_id), String(c.connector_id), c.status, time(c.status_at)])),
      h("h2", {}, "Current sessions"),
      table("Current sessions", ["Transaction", "EVSE", "Token", "Started", "Energy", "State"],
        d.sessions.map(t => [h("a", {href: `/sessions/${enc(d.id)}/${enc(t.transaction_id)}`}, t.transaction_id),
          String(t.evse_id), t.id_token || "–", time(t.started_at), kwh(t.energy_wh), t.charging_state || "–"])),
      h("h2", {}, "Commands sent"),
      table("Commands sent", ["Action", "Outcome", "Answer", "Sent"],
        d.commands.map(c => [c.action, c.status, c.error || JSON.stringify(c.response || {}), time(c.created_at)])),
      h("h2", {}, "Security events"),
      table("Security events", ["Type", "Info", "At"],
        d.security_events.map(e => [e.type || "–", e.techInfo || "–", time(e.timestamp)])),
      h("details", {"data-key": "variables"}, h("summary", {}, `Device model (${d.variables.length} variables)`),
        table("Device model variables", ["Component", "EVSE", "Variable", "Value", "Mutability"],
          d.variables.map(v => [v.component, String(v.evse_id || ""), v.variable, v.value ?? "–", v.mutability || "–"]))));
  });
}

// ---- sessions ---------------------------------------------------------------------------

function renderSessions(rows) {
  replace(view, table("Sessions", ["Transaction", "Station", "EVSE", "Token", "Started", "Ended", "State", "Energy", "Fed back"],
    rows.map(t => [h("a", {href: `/sessions/${enc(t.station_id)}/${enc(t.transaction_id)}`}, t.transaction_id),
      h("a", {href: "/stations/" + enc(t.station_id)}, t.station_id), String(t.evse_id ?? "–"), t.id_token || "–",
      time(t.started_at), time(t.ended_at), t.state, kwh(t.energy_wh), kwh(t.discharged_wh)])));
}

function profileLimits(profile) {
  const schedule = (profile.chargingSchedule || [])[0] || {};
  return (schedule.chargingSchedulePeriod || []).slice(0, 4)
    .map(p => `+${Math.round(p.startPeriod / 60)} min: ${p.limit} ${schedule.chargingRateUnit || ""}`).join("; ");
}

// The limit (W) in force at `t` from the newest profile the station accepted before it;
// null where none was, or where it was given in amperes.
function limitAt(profiles, t) {
  for (const p of profiles) {
    if (p.answer !== "Accepted" || new Date(p.sent_at) > t) continue;
    const schedule = ((p.profile || {}).chargingSchedule || [])[0];
    if (!schedule || schedule.chargingRateUnit !== "W") return null;
    const offset = (t - new Date(schedule.startSchedule || p.sent_at)) / 1000;
    let limit = null;
    for (const period of schedule.chargingSchedulePeriod) if (period.startPeriod <= offset) limit = period.limit;
    return limit;
  }
  return null;
}

function renderSession(d) {
  if (!d) { replace(view, h("p", {}, "No such session.")); return; }
  const s = d.series;
  const labels = s.map(p => hhmm(p.t));
  replace(view,
    facts([["Station", h("a", {href: "/stations/" + enc(d.station_id)}, d.station_id)], ["EVSE", String(d.evse_id ?? "–")],
           ["Token", d.id_token || "–"], ["State", `${d.state} (${d.charging_state || "–"})`],
           ["Started", time(d.started_at)], ["Ended", time(d.ended_at)],
           ["Energy", kwh(d.energy_wh)], ["Fed back", kwh(d.discharged_wh)]]),
    h("h2", {}, "Power, energy and state of charge"),
    s.length ? [
      charts.chart({title: "Power and SoC over time", unit: "W", labels,
        bars: [{name: "import power", values: s.map(p => p.power_w || 0), cls: "charge", sign: 1},
               {name: "export power", values: s.map(p => p.export_w || 0), cls: "discharge", sign: -1}],
        lines: [{name: "SoC", values: s.map(p => p.soc ?? null), cls: "soc", right: true},
                {name: "profile limit", values: s.map(p => limitAt(d.profiles, new Date(p.t))), cls: "requested"}],
        rightUnit: "%"}),
      charts.chart({title: "Energy register", unit: "Wh", labels,
        lines: [{name: "energy imported", values: s.map(p => p.energy_wh ?? null), cls: "energy"}]}),
    ] : h("p", {class: "empty"}, "No meter values yet."),
    h("h2", {}, "Data quality"),
    d.quality.length ? h("ul", {class: "flags"}, d.quality.map(q => h("li", {}, "⚠ " + q)))
                     : h("p", {}, "✓ No data-quality flags."),
    h("h2", {}, "Charging profiles sent"),
    table("Charging profiles", ["Sent", "Outcome", "Purpose", "Limits"],
      d.profiles.map(p => [time(p.sent_at), `${p.status}${p.answer ? " / " + p.answer : ""}`,
        (p.profile || {}).chargingProfilePurpose || "–", profileLimits(p.profile || {})])));
}

// ---- swap -------------------------------------------------------------------------------

function gateText(g) {
  if (g.report_age_s == null) return `✖ ${g.stage}: no report`;
  return `${g.passed ? "✓" : "✖"} ${g.stage}: ${g.passed ? "passed" : g.reason.replaceAll("_", " ")}` +
    ` (report ${g.report_age_s} s old)`;
}

function renderSwap(stations) {
  if (!stations.length) { replace(view, h("p", {}, "No swap stations registered.")); return; }
  replace(view, stations.map(s => h("section", {id: s.id, class: "swap", "aria-labelledby": "swap-" + s.id},
    h("h2", {id: "swap-" + s.id}, `Swap station ${s.id}`),
    facts([["Grid power", kw(s.grid_w)], ["Swaps done", String(s.swaps)], ["Queue", String(s.queue.length)]]),
    table(`Bays of ${s.id}`, ["Bay", "State", "Vehicle", "Gates"],
      s.bays.map(b => [String(b.number), b.state, b.vehicle || "–",
        b.gates.length ? h("ul", {class: "gates"}, b.gates.map(g => h("li", {}, gateText(g)))) : "–"])),
    table(`Queue of ${s.id}`, ["Vehicle", "Class", "Battery type", "Waiting"],
      s.queue.map(q => [q.vehicle, q.priority, q.battery_type, `${Math.round(q.waiting_s)} s`]), "Nobody waiting."),
    table(`Vehicles in service at ${s.id}`, ["Vehicle", "Phase", "Bay", "Held"],
      s.visits.map(v => [v.vehicle, v.phase, String(v.bay ?? "–"), v.held || "–"]), "No vehicle in service."),
    table(`Rack of ${s.id}`, ["Battery", "Type", "SoC", "SoH", "Plan"],
      s.rack.map(b => [b.serial, b.type, pct(b.soc), pct(b.soh),
        b.reserved_for ? `reserved for ${b.reserved_for}` : b.power_w > 0 ? `charging at ${kw(b.power_w)}`
          : b.power_w < 0 ? `feeding back ${kw(-b.power_w)}` : "idle"])))));
}

// ---- start ------------------------------------------------------------------------------

const signout = document.getElementById("signout");
if (signout) signout.addEventListener("click", async () => {
  await send("/session", "DELETE");
  window.location.assign("/login");
});

({
  "overview": () => stream("overview", {}, renderOverview),
  "grid": () => stream("grid", {}, renderGrid),
  "stations": stationList,
  "stations:detail": () => stationDetail(main.dataset.station),
  "sessions": () => stream("sessions", {}, renderSessions),
  "sessions:detail": () => stream("session", {station: main.dataset.station, tx: main.dataset.tx}, renderSession),
  "swap": () => stream("swap", {}, renderSwap),
})[main.dataset.page]();
