// upnpcm ui: the page. Hand-written, no framework, no build step, nothing loaded from elsewhere.
// Every text a device sends is put in the page with textContent, never as HTML.
"use strict";

const S = {
  devices: new Map(),     // udn -> summary
  subs: new Map(),        // id -> {summary, tail: [rows, newest last]}
  calls: [],              // newest last
  check: null,
  negotiated: [],
  view: "device",
  udn: null,              // the open device
  detail: null,           // its description
  service: null,          // the chosen service's selector
  matrix: null,
  cell: null,             // [server, renderer]
  negotiation: null,      // the last negotiation: {server, renderer, result}
  lastCall: new Map(),    // "udn|service|action" -> call record
};
const TAIL = 200;         // rows of a subscription shown

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: { "Accept": "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  let data = null;
  try { data = await reply.json(); } catch (e) { data = { error: `HTTP ${reply.status}` }; }
  if (!reply.ok) throw new Error(data && data.error ? data.error : `HTTP ${reply.status}`);
  return data;
}

function ago(ms) {
  if (!ms) return "";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function shortType(urn) {
  const parts = (urn || "").split(":");
  return parts.length >= 3 ? parts[parts.length - 2] + ":" + parts[parts.length - 1] : urn;
}

function flash(text) {
  const view = document.getElementById("view");
  view.prepend(el("p", { class: "outcome error", text }));
}

let renderTimer = null;
const dirty = new Set();
function schedule(part) {
  dirty.add(part);
  if (renderTimer === null) renderTimer = setTimeout(flush, 16);
}
function flush() {
  renderTimer = null;
  const parts = new Set(dirty);
  dirty.clear();
  if (parts.has("devices")) renderDevices();
  if (parts.has("view")) renderView();
  else if (parts.has("subs") && S.view === "subscriptions") renderSubscriptions();
  if (parts.has("count")) document.getElementById("sub-count").textContent = S.subs.size ? `(${S.subs.size})` : "";
}

// ------------------------------------------------------------------ devices

function renderDevices() {
  const list = document.getElementById("devices");
  const devices = [...S.devices.values()].sort((a, b) =>
    (a.name || a.udn).localeCompare(b.name || b.udn));
  document.getElementById("device-count").textContent =
    `${devices.length} device${devices.length === 1 ? "" : "s"}`;
  list.textContent = "";
  for (const d of devices) {
    const model = [d.manufacturer, d.model].filter(Boolean).join(" · ");
    list.appendChild(el("li", {
      class: `device ${d.state}${d.udn === S.udn ? " on" : ""}`,
      dataset: { udn: d.udn },
      title: d.error || d.location || "",
      onclick: () => openDevice(d.udn),
    },
      el("div", { class: "name", text: d.name || d.udn }),
      el("div", { class: "meta", text: [d.deviceType, model].filter(Boolean).join(" — ") }),
      el("div", { class: "meta" },
        el("span", { class: "addr", text: d.address }),
        d.bootId !== null && d.bootId !== undefined ? ` · BOOTID ${d.bootId}` : "",
        " · ",
        el("span", { class: "seen", dataset: { ms: d.lastSeen || "" }, text: d.manual ? "added by URL" : `seen ${ago(d.lastSeen)}` })),
    ));
  }
}

setInterval(() => {
  for (const span of document.querySelectorAll(".seen[data-ms]")) {
    if (span.dataset.ms) span.textContent = `seen ${ago(Number(span.dataset.ms))}`;
  }
}, 1000);

async function openDevice(udn) {
  S.udn = udn;
  S.detail = null;
  S.service = null;
  S.view = "device";
  schedule("devices");
  schedule("view");
  await loadDetail();
}

async function loadDetail() {
  const udn = S.udn;
  if (!udn) return;
  try {
    const detail = await api("GET", `/api/devices/${encodeURIComponent(udn)}`);
    if (S.udn !== udn) return;
    S.detail = detail;
  } catch (e) {
    S.detail = { error: String(e.message || e) };
  }
  schedule("view");
}

// ------------------------------------------------------------------ views

function setView(name) {
  S.view = name;
  if (name === "matrix") loadMatrix();
  schedule("view");
}

function renderView() {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("on", tab.dataset.view === S.view);
  const view = document.getElementById("view");
  view.textContent = "";
  const render = { device: renderDevice, subscriptions: renderSubscriptions, matrix: renderMatrix,
    calls: renderCalls, check: renderCheck }[S.view];
  render(view);
}

function renderDevice(view) {
  if (!S.udn) {
    view.appendChild(el("p", { class: "hint", text: "Pick a device on the left." }));
    return;
  }
  const d = S.devices.get(S.udn) || (S.detail && S.detail.summary);
  if (!d) {
    view.appendChild(el("p", { class: "hint", text: "That device has left the network (ssdp:byebye or expired)." }));
    return;
  }
  view.appendChild(el("h2", { id: "device-title", text: d.name || d.udn }));
  const facts = [["UDN", d.udn], ["Type", d.deviceType], ["Manufacturer", d.manufacturer],
    ["Model", d.model], ["Address", d.address], ["LOCATION", d.location],
    ["BOOTID", d.bootId], ["CONFIGID", d.configId], ["SERVER", d.server],
    ["State", d.state + (d.error ? `: ${d.error}` : "")]];
  view.appendChild(el("dl", { class: "facts" },
    facts.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) =>
      [el("dt", { text: k }), el("dd", { text: v })])));
  view.appendChild(el("div", { class: "toolbar" },
    el("button", { type: "button", id: "run-check", onclick: () => runCheck(d.udn) }, "Run check"),
    el("label", {}, el("input", { type: "checkbox", id: "check-no-changes" }), " without changes")));
  if (!S.detail) { view.appendChild(el("p", { class: "hint", text: "Loading…" })); return; }
  if (S.detail.error) { view.appendChild(el("p", { class: "outcome error", text: S.detail.error })); return; }
  if (!S.detail.description) { view.appendChild(el("p", { class: "hint", text: "Not loaded." })); return; }
  const root = S.detail.description.device;
  view.appendChild(el("h3", { text: "Device tree" }));
  view.appendChild(el("div", { class: "tree", id: "tree" }, el("ul", {}, treeNode(root))));
  const service = S.service ? findService(root, S.service) : null;
  if (service) view.appendChild(renderService(d, service));
}

function treeNode(node) {
  return el("li", {},
    el("span", { class: "dev", text: node.friendlyName || node.UDN }),
    el("span", { class: "muted", text: `  ${shortType(node.deviceType)} · ${node.UDN}` }),
    el("ul", {},
      (node.services || []).map((s) => el("li", {},
        el("span", {
          class: `svc${S.service === s.selector ? " on" : ""}`,
          dataset: { selector: s.selector },
          onclick: () => { S.service = s.selector; schedule("view"); },
          text: `${shortType(s.serviceType)} (${s.selector})`,
        }))),
      (node.devices || []).map(treeNode)));
}

function findService(node, selector) {
  for (const s of node.services || []) if (s.selector === selector) return s;
  for (const child of node.devices || []) {
    const found = findService(child, selector);
    if (found) return found;
  }
  return null;
}

function renderService(device, service) {
  const card = el("div", { class: "card", id: "service" });
  const subscribed = [...S.subs.values()].find((s) => s.summary.udn === device.udn && s.summary.selector === service.selector);
  card.appendChild(el("h3", { text: `${service.serviceType}` }));
  card.appendChild(el("dl", { class: "facts" },
    [["serviceId", service.serviceId], ["SCPDURL", service.SCPDURL], ["controlURL", service.controlURL],
      ["eventSubURL", service.eventSubURL]].map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
  card.appendChild(el("div", { class: "toolbar" },
    subscribed
      ? el("button", { type: "button", onclick: () => setView("subscriptions") }, "Subscribed: show events")
      : el("button", { type: "button", id: "subscribe", class: "primary", onclick: () => subscribe(device.udn, service.selector) }, "Subscribe")));
  if (service.scpdError) {
    card.appendChild(el("p", { class: "outcome error", text: `SCPD not loaded: ${service.scpdError}` }));
    return card;
  }
  const scpd = service.scpd;
  const variables = new Map(scpd.stateVariables.map((v) => [v.name, v]));
  card.appendChild(el("h4", { text: `Actions (${scpd.actions.length})` }));
  for (const action of scpd.actions) card.appendChild(actionForm(device.udn, service.selector, action, variables));
  card.appendChild(el("h4", { text: `State variables (${scpd.stateVariables.length})` }));
  card.appendChild(el("table", { id: "variables" },
    el("thead", {}, el("tr", {}, ["Name", "Type", "Evented", "Default", "Allowed"].map((h) => el("th", { text: h })))),
    el("tbody", {}, scpd.stateVariables.map((v) => el("tr", {},
      el("td", { class: "mono", text: v.name }),
      el("td", { text: v.dataType }),
      el("td", { text: v.sendEvents ? "yes" : "no" }),
      el("td", { class: "mono", text: v.defaultValue ?? "" }),
      el("td", { class: "mono", text: allowedText(v) }))))));
  return card;
}

function allowedText(v) {
  if (v.allowedValueList) return v.allowedValueList.join(", ");
  if (v.allowedValueRange) {
    const r = v.allowedValueRange;
    return `${r.minimum} … ${r.maximum}${r.step ? ` step ${r.step}` : ""}`;
  }
  return "";
}

function inputFor(arg, variable) {
  const name = arg.name;
  const dflt = variable && variable.defaultValue !== undefined ? variable.defaultValue : "";
  if (variable && variable.allowedValueList) {
    return el("select", { name, "aria-label": name },
      variable.allowedValueList.map((v) => el("option", { value: v, selected: v === dflt, text: v })));
  }
  if (variable && variable.dataType === "boolean") {
    return el("select", { name, "aria-label": name },
      [["0", "0 (false)"], ["1", "1 (true)"]].map(([v, t]) => el("option", { value: v, selected: v === dflt, text: t })));
  }
  const range = variable && variable.allowedValueRange;
  const hint = range ? `${range.minimum} … ${range.maximum}` : (variable ? variable.dataType : "");
  // A text field for every type: the library's checks (as the CLI's) judge the value, not the browser.
  return el("input", { name, value: dflt, placeholder: hint, "aria-label": name, autocomplete: "off" });
}

function actionForm(udn, selector, action, variables) {
  const ins = action.arguments.filter((a) => a.direction === "in");
  const outs = action.arguments.filter((a) => a.direction === "out");
  const key = `${udn}|${selector}|${action.name}`;
  const result = el("div", { class: "call-result" });
  const form = el("form", { class: "action-form", novalidate: true, dataset: { action: action.name } },
    el("div", { class: "args" }, ins.map((arg) => {
      const variable = variables.get(arg.relatedStateVariable);
      return [el("label", { text: arg.name }), inputFor(arg, variable),
        el("span", { class: "type", text: `${arg.dataType}${variable && allowedText(variable) ? " · " + allowedText(variable) : ""}` })];
    })),
    el("button", { type: "submit", class: "primary" }, `Call ${action.name}`));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const argumentsByName = {};
    for (const field of form.querySelectorAll("input, select")) argumentsByName[field.name] = field.value;
    result.textContent = "";
    result.appendChild(el("p", { class: "muted", text: "calling…" }));
    try {
      const record = await api("POST", "/api/call", { udn, service: selector, action: action.name, arguments: argumentsByName });
      S.lastCall.set(key, record);
      showCall(result, record);
    } catch (e) {
      result.textContent = "";
      result.appendChild(el("p", { class: "outcome error", text: String(e.message || e) }));
    }
  });
  const last = S.lastCall.get(key);
  if (last) showCall(result, last);
  return el("details", { class: "action", dataset: { action: action.name }, open: Boolean(last) },
    el("summary", { text: `${action.name}(${ins.map((a) => a.name).join(", ")})${outs.length ? " → " + outs.map((a) => a.name).join(", ") : ""}` }),
    form, result);
}

function showCall(box, record) {
  box.textContent = "";
  const words = { ok: "OK", fault: `UPnP error ${record.code}`, refused: `refused before sending (${record.code})`, error: "failed" };
  box.appendChild(el("p", {},
    el("span", { class: `outcome ${record.outcome}`, text: words[record.outcome] || record.outcome }),
    record.message ? ` ${record.message}` : ""));
  if (record.values) {
    box.appendChild(el("table", { class: "values" }, el("tbody", {},
      Object.entries(record.values).map(([k, v]) => el("tr", { dataset: { name: k } },
        el("th", { text: k }), el("td", { class: "mono", text: typeof v === "string" ? v : JSON.stringify(v) }))))));
  }
  box.appendChild(el("h4", { text: "Request" }));
  box.appendChild(el("pre", { class: "request", text: record.request || "(nothing was sent)" }));
  box.appendChild(el("h4", { text: "Response" }));
  box.appendChild(el("pre", { class: "response", text: record.response || "(none)" }));
}

// ------------------------------------------------------------------ subscriptions

async function subscribe(udn, selector) {
  try {
    const summary = await api("POST", "/api/subscriptions", { udn, service: selector });
    const tail = summary.tail || [];
    delete summary.tail;
    upsertSub(summary, tail);
    setView("subscriptions");
  } catch (e) { flash(String(e.message || e)); }
}

function upsertSub(summary, tail) {
  const known = S.subs.get(summary.id);
  if (known) {
    if (summary.rows >= known.summary.rows) known.summary = summary;  // never an older state
    if (tail) for (const row of tail) addRow(known, row);
  } else {
    S.subs.set(summary.id, { summary, tail: (tail || []).slice(-TAIL) });
  }
  schedule("count");
  schedule("subs");
}

function addRow(sub, row) {
  const last = sub.tail.length ? sub.tail[sub.tail.length - 1].n : 0;
  if (row.n <= last) return false;
  sub.tail.push(row);
  if (sub.tail.length > TAIL) sub.tail.splice(0, sub.tail.length - TAIL);
  return true;
}

const pendingRows = new Map();   // sub id -> rows not yet in the page
let rowTimer = null;
function onEvent(data) {
  const sub = S.subs.get(data.sub);
  if (!sub) return;
  sub.summary = data.state;
  if (!addRow(sub, data.row)) return;
  if (S.view !== "subscriptions") return;
  if (!pendingRows.has(data.sub)) pendingRows.set(data.sub, []);
  pendingRows.get(data.sub).push(data.row);
  if (rowTimer === null) rowTimer = setTimeout(flushRows, 16);
}

function flushRows() {
  rowTimer = null;
  for (const [id, rows] of pendingRows) {
    const sub = S.subs.get(id);
    const card = document.querySelector(`.sub[data-sub="${id}"]`);
    if (!sub || !card) { schedule("subs"); continue; }
    fillSubHead(card, sub.summary);
    const body = card.querySelector("tbody.events");
    for (const row of rows) body.insertBefore(eventRow(row), body.firstChild);
    while (body.children.length > TAIL) body.removeChild(body.lastChild);
  }
  pendingRows.clear();
}

function renderSubscriptions(view) {
  view = view || document.getElementById("view");
  view.textContent = "";
  pendingRows.clear();
  view.appendChild(el("h2", { text: "Subscriptions" }));
  if (!S.subs.size) {
    view.appendChild(el("p", { class: "hint", text: "Open a device, pick a service and press Subscribe." }));
    return;
  }
  for (const sub of S.subs.values()) {
    const card = el("div", { class: "card sub", dataset: { sub: sub.summary.id } },
      el("div", { class: "toolbar" },
        el("strong", { text: sub.summary.service }),
        el("span", { class: "sub-head" }),
        el("button", { type: "button", onclick: () => unsubscribe(sub.summary.id) }, "Unsubscribe")),
      el("h4", { text: "Current values" }),
      el("table", { class: "current" }, el("tbody", {})),
      el("h4", { text: "Events (newest first)" }),
      el("table", {},
        el("thead", {}, el("tr", {}, ["Time", "What", "SEQ", "SID", "Variables"].map((h) => el("th", { text: h })))),
        el("tbody", { class: "events" }, sub.tail.slice().reverse().map(eventRow))));
    fillSubHead(card, sub.summary);
    view.appendChild(card);
  }
}

function fillSubHead(card, s) {
  const head = card.querySelector(".sub-head");
  head.textContent = "";
  head.append(el("span", { class: `state ${s.state}`, text: s.state }),
    ` · SID ${s.sid || "—"} · TIMEOUT ${s.timeout ?? "—"} s · SEQ ${s.seq ?? "—"} · ${s.events} events · ${s.renewals} renewals · ${s.restarts} resubscriptions`);
  const current = card.querySelector("table.current tbody");
  current.textContent = "";
  for (const [name, value] of Object.entries(s.values || {})) {
    current.appendChild(el("tr", { dataset: { name } }, el("th", { text: name }), el("td", { class: "mono", text: value })));
  }
}

function eventRow(row) {
  const vars = el("td", { class: "mono" });
  if (row.variables) {
    for (const [name, value] of row.variables) {
      if (name === "LastChange" && row.lastChange) continue;
      vars.appendChild(el("div", { class: "var", dataset: { name } }, el("b", { text: name }), ` = ${value}`));
    }
  }
  if (row.lastChange) {
    vars.appendChild(el("div", { class: "muted", text: "LastChange:" }));
    vars.appendChild(el("table", { class: "lastchange" }, el("tbody", {},
      row.lastChange.map(([instance, name, channel, value]) => el("tr", {},
        el("td", { text: `#${instance}` }), el("td", { text: name + (channel ? ` (${channel})` : "") }),
        el("td", { text: value }))))));
  }
  if (row.detail) vars.appendChild(el("div", { text: row.detail }));
  return el("tr", { class: `ev k-${row.kind}`, dataset: { n: row.n, kind: row.kind } },
    el("td", { text: clock(row.at) }), el("td", { text: row.kind }),
    el("td", { text: row.seq ?? "" }), el("td", { class: "mono", text: row.sid || "" }), vars);
}

async function unsubscribe(id) {
  try { await api("DELETE", `/api/subscriptions/${id}`); } catch (e) { flash(String(e.message || e)); }
  S.subs.delete(id);
  schedule("count");
  schedule("subs");
}

// ------------------------------------------------------------------ matrix

let matrixTimer = null;
async function loadMatrix() {
  try { S.matrix = await api("GET", "/api/matrix"); } catch (e) { S.matrix = { error: String(e.message || e) }; }
  if (S.view === "matrix") schedule("view");
}

function renderMatrix(view) {
  view.appendChild(el("h2", { text: "protocolInfo compatibility" }));
  view.appendChild(el("p", { class: "hint", text: "Each MediaServer's Source list against each MediaRenderer's Sink list: the pair a negotiation would choose, and why." }));
  view.appendChild(el("div", { class: "toolbar" },
    el("button", { type: "button", onclick: async () => { S.matrix = await api("POST", "/api/matrix/refresh"); schedule("view"); } }, "Ask every device again")));
  const m = S.matrix;
  if (!m) { view.appendChild(el("p", { class: "hint", text: "Loading…" })); return; }
  if (m.error) { view.appendChild(el("p", { class: "outcome error", text: m.error })); return; }
  if (!m.servers.length || !m.renderers.length) {
    view.appendChild(el("p", { class: "hint", text: `${m.servers.length} servers and ${m.renderers.length} renderers seen so far.` }));
  } else {
    view.appendChild(el("table", { class: "matrix", id: "matrix" },
      el("thead", {}, el("tr", {}, el("th", { text: "Server ↓ · Renderer →" }),
        m.renderers.map((r) => el("th", { title: r.key, text: `${r.name} (${r.selector})` })))),
      el("tbody", {}, m.servers.map((s, i) => el("tr", {},
        el("th", { title: s.key, text: `${s.name} (${s.selector})` }),
        m.cells[i].map((c) => el("td", {
          class: `cell ${c.compatible ? "yes" : "no"}${S.cell && S.cell[0] === c.server && S.cell[1] === c.renderer ? " on" : ""}`,
          dataset: { server: c.server, renderer: c.renderer },
          onclick: () => { S.cell = [c.server, c.renderer]; schedule("view"); },
        }, c.compatible ? `✓ ${c.best.sink.split(":")[2]}` : "✗", el("div", { class: "muted", text: `${c.pairs} pairs` }))))))));
  }
  if (S.cell) {
    const i = m.servers.findIndex((s) => s.key === S.cell[0]);
    const j = m.renderers.findIndex((r) => r.key === S.cell[1]);
    if (i >= 0 && j >= 0) {
      const c = m.cells[i][j];
      view.appendChild(el("div", { class: "card", id: "cell" },
        el("h3", { text: `${m.servers[i].name} → ${m.renderers[j].name}: ${c.compatible ? "compatible" : "incompatible"}` }),
        el("ul", { class: "explain" }, c.explanation.map((line) => el("li", { text: line }))),
        el("button", { type: "button", id: "negotiate", class: "primary", disabled: !c.compatible, onclick: () => negotiate(c.server, c.renderer) }, "Negotiate (PrepareForConnection on both)"),
        S.negotiation && S.negotiation.server === c.server && S.negotiation.renderer === c.renderer
          ? negotiationText(el("div", { id: "negotiation" }), S.negotiation.result)
          : el("div", { id: "negotiation" })));
    }
  }
  if (S.negotiated.length) {
    view.appendChild(el("h3", { text: "Negotiated connections" }));
    view.appendChild(el("table", { id: "negotiated" }, el("tbody", {}, S.negotiated.map((n) => el("tr", {},
      el("td", { class: "mono", text: n.result.protocolInfo }),
      el("td", { text: `server #${n.result.server.connectionId} · renderer #${n.result.renderer.connectionId}` }),
      el("td", {}, el("button", { type: "button", onclick: () => complete(n.id) }, "ConnectionComplete")))))));
  }
}

async function negotiate(server, renderer) {
  const box = document.getElementById("negotiation");
  if (box) box.textContent = "negotiating…";
  const result = await api("POST", "/api/negotiate", { server, renderer }).catch((e) => ({ ok: false, error: String(e.message || e) }));
  S.negotiation = { server, renderer, result };
  schedule("view");
}

function negotiationText(box, result) {
  if (result.ok) {
    box.appendChild(el("p", {}, el("span", { class: "outcome ok", text: "connected" }),
      ` ${result.result.protocolInfo} — server ConnectionID ${result.result.server.connectionId}, renderer ConnectionID ${result.result.renderer.connectionId}`));
  } else {
    box.appendChild(el("p", { class: "outcome error", text: result.error || "failed" }));
  }
  return box;
}

async function complete(id) {
  try { await api("POST", "/api/complete", { id }); } catch (e) { flash(String(e.message || e)); }
}

// ------------------------------------------------------------------ calls and check

function renderCalls(view) {
  view.appendChild(el("h2", { text: "Calls (newest first)" }));
  if (!S.calls.length) view.appendChild(el("p", { class: "hint", text: "No action called yet." }));
  for (const record of S.calls.slice().reverse()) {
    const box = el("div", { class: "card" }, el("strong", { text: `${record.device} · ${record.service} · ${record.action}` }));
    const inner = el("div");
    showCall(inner, record);
    box.appendChild(inner);
    view.appendChild(box);
  }
}

async function runCheck(udn) {
  const noChanges = document.getElementById("check-no-changes");
  try {
    S.check = await api("POST", "/api/check", { udn, changes: !(noChanges && noChanges.checked) });
    setView("check");
  } catch (e) { flash(String(e.message || e)); }
}

function renderCheck(view) {
  view.appendChild(el("h2", { text: "Check (upnpcm check)" }));
  const run = S.check;
  if (!run) { view.appendChild(el("p", { class: "hint", text: "Open a device and press Run check." })); return; }
  const device = S.devices.get(run.udn);
  view.appendChild(el("p", {}, el("strong", { text: device ? device.name : run.udn }), ` · ${run.location}`));
  view.appendChild(el("div", { class: "toolbar" },
    el("span", { id: "check-state", class: "state", text: run.state }),
    el("span", { id: "check-summary", text: run.summary || run.progress }),
    run.state === "running" ? el("button", { type: "button", onclick: () => api("DELETE", "/api/check") }, "Stop") : null));
  view.appendChild(el("table", { id: "check-rows" },
    el("thead", {}, el("tr", {}, ["", "Check", "Subject", "Got", "Required"].map((h) => el("th", { text: h })))),
    el("tbody", {}, run.rows.map(checkRow))));
}

function checkRow(row) {
  return el("tr", { dataset: { check: row.check } },
    el("td", { class: `st-${row.status}`, text: row.status }),
    el("td", { class: "mono", text: row.check }),
    el("td", { text: row.subject }),
    el("td", { class: "mono", text: row.received || row.detail || "" }),
    el("td", { text: row.status === "PASS" ? "" : `${row.required} (${row.cite})` }));
}

// ------------------------------------------------------------------ the stream

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  const on = (kind, fn) => source.addEventListener(kind, (e) => fn(JSON.parse(e.data)));
  source.onopen = () => { live.className = "live on"; live.textContent = "live"; };
  source.onerror = () => { live.className = "live off"; live.textContent = "reconnecting…"; };
  on("snapshot", (snap) => {
    S.devices = new Map(snap.devices.map((d) => [d.udn, d]));
    const subs = new Map();
    for (const s of snap.subscriptions) {
      const tail = s.tail; delete s.tail;
      subs.set(s.id, { summary: s, tail: tail.slice(-TAIL) });
    }
    S.subs = subs;
    S.calls = snap.calls;
    S.check = snap.check;
    S.negotiated = snap.negotiated;
    schedule("devices"); schedule("count"); schedule("view");
    if (S.udn) loadDetail();
  });
  on("device", (d) => {
    S.devices.set(d.udn, d);
    schedule("devices");
    if (d.udn === S.udn && d.state !== "loading") loadDetail();
  });
  on("seen", (d) => {
    const known = S.devices.get(d.udn);
    if (known) {
      known.lastSeen = d.lastSeen;
      const span = document.querySelector(`.device[data-udn="${CSS.escape(d.udn)}"] .seen`);
      if (span) { span.dataset.ms = d.lastSeen; span.textContent = `seen ${ago(d.lastSeen)}`; }
    }
  });
  on("gone", (d) => {
    S.devices.delete(d.udn);
    schedule("devices");
    if (d.udn === S.udn) schedule("view");
  });
  on("subscription", (s) => { const tail = s.tail; delete s.tail; upsertSub(s, tail); });
  on("event", onEvent);
  on("unsubscribed", (d) => { S.subs.delete(d.sub); schedule("count"); schedule("subs"); });
  on("call", (record) => {
    S.calls.push(record);
    if (S.calls.length > 50) S.calls.shift();
    if (S.view === "calls") schedule("view");
  });
  on("matrix", () => {
    if (S.view !== "matrix") return;
    if (matrixTimer === null) matrixTimer = setTimeout(() => { matrixTimer = null; loadMatrix(); }, 250);
  });
  on("negotiated", (n) => { S.negotiated.push(n); if (S.view === "matrix") schedule("view"); });
  on("completed", (d) => { S.negotiated = S.negotiated.filter((n) => n.id !== d.id); if (S.view === "matrix") schedule("view"); });
  on("check", (run) => { S.check = run; if (S.view === "check") schedule("view"); });
  on("checkrow", (d) => {
    if (!S.check || S.check.id !== d.id) return;
    S.check.rows.push(d.row);
    const body = document.querySelector("#check-rows tbody");
    if (S.view === "check" && body) body.appendChild(checkRow(d.row));
  });
  on("checkprogress", (d) => {
    if (!S.check || S.check.id !== d.id) return;
    S.check.progress = d.progress;
    const span = document.getElementById("check-summary");
    if (span && S.check.state === "running") span.textContent = d.progress;
  });
  on("search", (d) => {
    const button = document.getElementById("search");
    button.disabled = d.searching;
    button.textContent = d.searching ? "Searching…" : "Search";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => setView(tab.dataset.view));
  document.getElementById("search").addEventListener("click", () => api("POST", "/api/search", {}).catch((e) => flash(String(e.message || e))));
  document.getElementById("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("add-url");
    try {
      const d = await api("POST", "/api/devices", { location: input.value.trim() });
      input.value = "";
      S.devices.set(d.udn, d);
      openDevice(d.udn);
    } catch (e) { flash(String(e.message || e)); }
  });
  connect();
});
