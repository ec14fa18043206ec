// evoswarm dashboard: polls the node's loopback JSON API and draws it with
// plain SVG. No library, nothing fetched from any other host. Every string
// that came from the swarm (peer IDs, mutation names) goes in as text,
// never as markup.
"use strict";

const POLL_MS = 3000;
const SVGNS = "http://www.w3.org/2000/svg"; // a namespace name, never fetched
const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#ea580c"];

const state = {
  status: null,
  individuals: [],
  individualsKey: "",  // the status counters when individuals were read
  byID: new Map(),     // the same individuals by ID, to merge what changed
  eventsSeq: null,     // the node's last event they reflect (null: read them whole)
  selected: null,      // an individual ID the user clicked, or null: follow the best
  genomeKey: "",       // the ID whose genome is drawn
  lineageKey: "",       // the ID whose lineage is drawn
  lineageAt: 0,        // when it was fetched (Date.now())
  sortKey: "val_accuracy",
  sortDir: -1,
  origins: new Map(),  // origin peer -> colour index, in order of first sight
};

const $ = (id) => document.getElementById(id);

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVGNS, tag);
  for (const k in attrs || {}) el.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(el);
  return el;
}

function html(tag, attrs, text, parent) {
  const el = document.createElement(tag);
  for (const k in attrs || {}) el.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) el.textContent = text;
  if (parent) parent.appendChild(el);
  return el;
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function title(el, text) { svg("title", {}, el).textContent = text; }

const short = (id) => (id || "").slice(0, 12);
const pct = (x) => (x * 100).toFixed(2) + "%";

function si(x, unit) {
  if (!isFinite(x)) return "–";
  const p = [["E", 1e18], ["P", 1e15], ["T", 1e12], ["G", 1e9], ["M", 1e6], ["k", 1e3]];
  for (const [s, v] of p) if (Math.abs(x) >= v) return (x / v).toFixed(2) + " " + s + (unit || "");
  return String(Math.round(x)) + (unit ? " " + unit : "");
}

function duration(ms) {
  if (!isFinite(ms) || ms < 0) ms = 0;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + s + "s";
  return s + "s";
}

function originName(o) {
  if (state.status && o === state.status.peer_id) return "local";
  return short(o) || "?";
}

function originColour(o) {
  if (state.status && o === state.status.peer_id) return "#374151";
  if (!state.origins.has(o)) state.origins.set(o, state.origins.size);
  return PALETTE[state.origins.get(o) % PALETTE.length];
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()).trim());
  return r.json();
}

// readIndividuals reads the population whole the first time, then only
// what changed since the last event the previous read reflected (the
// cursor the node sends in its Evoswarm-Events header): on a run of days a
// poll costs the node what changed, not every record. Where there is no
// cursor (the swarm view), or the node refuses it (a repo made anew), it
// reads everything.
async function readIndividuals() {
  const since = state.eventsSeq;
  const r = await fetch("api/v1/individuals" + (since === null ? "" : "?after=" + since), { cache: "no-store" });
  if (!r.ok) {
    if (since !== null && r.status === 400) {
      state.eventsSeq = null;
      return readIndividuals();
    }
    throw new Error("api/v1/individuals: " + r.status + " " + (await r.text()).trim());
  }
  const list = (await r.json()) || [];
  if (since === null) state.byID = new Map();
  for (const ind of list) state.byID.set(ind.id, ind);
  state.individuals = Array.from(state.byID.values());
  const seq = r.headers.get("Evoswarm-Events");
  state.eventsSeq = seq === null ? null : Number(seq);
}

// ---- polling ----------------------------------------------------------

async function poll() {
  try {
    const st = await getJSON("api/v1/status");
    // The population is read again only when it changed: on a long run
    // reading every record each poll costs the node real CPU.
    const key = [st.trained_total, st.killed_total, st.abandoned_total, st.errors_total, st.migrants_in, st.training, st.alive].join(",");
    if (state.status && st.peer_id !== state.status.peer_id) state.eventsSeq = null; // another node now answers here
    if (key !== state.individualsKey) {
      await readIndividuals();
      state.individualsKey = key;
    }
    state.status = st;
    renderHeader();
    renderStats();
    renderProblems(st).catch((e) => { $("problems").title = String(e); });
    renderScatter();
    renderTable();
    await renderSelection();
    const c = $("conn");
    c.textContent = st.running ? "live" : "stopped";
    c.className = "pill ok";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    const c = $("conn");
    c.textContent = "unreachable";
    c.className = "pill err";
    c.title = String(e);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function renderHeader() {
  const st = state.status;
  $("peer").textContent = "peer " + short(st.peer_id);
  $("experiment").textContent = st.experiment_id;
}

function kv(dl, rows) {
  clear(dl);
  for (const [k, v, cls] of rows) {
    html("dt", {}, k, dl);
    html("dd", cls ? { class: cls } : {}, v, dl);
  }
}

function renderStats() {
  const st = state.status;
  const b = st.best;
  kv($("best"), b ? [
    ["id", short(b.id), "mono"],
    ["val. accuracy", pct(b.val_accuracy)],
    ["test accuracy", b.test_accuracy ? pct(b.test_accuracy) : "–"],
    ["params", b.params.toLocaleString()],
    ["FLOPs / image", si(b.flops)],
    ["mutation", b.mutation || "initial"],
    ["origin", originName(b.origin), "mono"],
  ] : [["", "no individual yet"]]);
  const up = st.started_at && !st.started_at.startsWith("0001") ? duration(Date.now() - Date.parse(st.started_at)) : "–";
  kv($("compute"), [
    ["FLOPs total", si(st.flops_total, "FLOP")],
    ["training time", (st.training_seconds / 3600).toFixed(2) + " worker-hours"],
    ["trained", String(st.trained_total)],
    ["killed", String(st.killed_total)],
    ["errors / abandoned", st.errors_total + " / " + st.abandoned_total],
    ["population", st.alive + " alive + " + st.training + " training (set point " + st.set_point + ")"],
    ["uptime", up],
    ["trains on", (st.devices && st.devices.length) ? st.devices.join("; ") : "CPU" + (st.engine ? ", " + st.engine : "")],
  ]);
  renderPhases(st.child_phases);
  const g = st.gossip || {};
  const d = g.delay || {};
  kv($("network"), [
    ["peers", String(st.peers)],
    ["migrants sent", String(st.migrants_out)],
    ["migrants received", String(st.migrants_received || 0)],
    ["migrants accepted", String(st.migrants_in)],
    ["migrants dropped", String(st.migrants_dropped || 0)],
    ["claims penalised", String(st.claims_penalized || 0)],
    ["gossip published / accepted", (g.published || 0) + " / " + (g.accepted || 0)],
    ["delay p50 / p90", d.count ? d.p50_ms.toFixed(1) + " / " + d.p90_ms.toFixed(1) + " ms" : "–"],
  ]);
  renderAdmission(st.admission);
  const all = Object.entries(st.rejected || {});
  const rej = all.filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  kv($("rejected"), rej.length ? rej.map(([k, v]) => [k, String(v)]) : [["none", all.length ? "(" + all.length + " reasons checked)" : ""]]);
}

// ---- problems ---------------------------------------------------------

// renderProblems lists the latest errors (a diverged loss, a failed
// evaluation) and abandoned trainings with their reasons, from
// api/v1/events, read again only when their count changes.
let problemsCounted = -1;
async function renderProblems(st) {
  const n = (st.errors_total || 0) + (st.abandoned_total || 0);
  if (n === problemsCounted) return;
  if (n === 0) {
    kv($("problems"), [["none", ""]]);
    problemsCounted = 0;
    return;
  }
  const evs = await getJSON("api/v1/events?type=error,abandon&last=5");
  kv($("problems"), evs.slice().reverse().map((e) => [
    new Date(e.time).toLocaleTimeString() + " " + e.type,
    (e.id ? short(e.id) + " " : "") + (e.mutation ? "(" + e.mutation + ") " : "") + (e.detail || ""),
  ]));
  problemsCounted = n;
}

// ---- immigration ------------------------------------------------------

// renderAdmission shows the experiment's immigration policy (topology and
// admission budget) and its use since the daemon started: two meters,
// admissions against what the count budget allowed and the re-measure
// share of FLOPs against its limit, and what became of what was heard.
function renderAdmission(a) {
  const bar = $("budget");
  clear(bar);
  if (!a) {
    $("admission-title").textContent = "";
    kv($("admission"), [["", "no exchange running"]]);
    return;
  }
  const topo = a.topology === "all" ? "everyone hears everyone"
    : a.topology + ", " + a.neighbour_limit + " neighbour" + (a.neighbour_limit === 1 ? "" : "s") +
      (a.reshuffle_seconds ? ", reshuffled every " + duration(a.reshuffle_seconds * 1000) : "");
  $("admission-title").textContent = "(" + topo + ")";
  const net = a.admitted - a.refunded;
  const share = (x) => (x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0) + "%";
  const meter = (y, label, used, limit, text) => {
    svg("rect", { x: 0, y: y, width: 400, height: 10, rx: 2, class: "track" }, bar);
    if (limit > 0) {
      const f = Math.min(used / limit, 1);
      const r = svg("rect", { x: 0, y: y, width: (f * 400).toFixed(1), height: 10, rx: 2, class: "used" + (used > limit ? " over" : "") }, bar);
      title(r, text);
    }
    svg("text", { x: 0, y: y + 19 }, bar).textContent = label + ": " + text;
  };
  const budget = [];
  if (a.admit_every > 0) {
    budget.push("1 per " + a.admit_every + " trained");
    meter(0, "admissions", net, a.allowed || 0, net + " of " + Math.floor(a.allowed || 0) + " allowed");
  }
  if (a.remeasure_share_limit > 0) {
    budget.push("re-measuring \u2264 " + share(a.remeasure_share_limit) + " of FLOPs");
    meter(a.admit_every > 0 ? 22 : 0, "re-measuring", a.remeasure_share, a.remeasure_share_limit,
      pct(a.remeasure_share) + " of FLOPs (limit " + share(a.remeasure_share_limit) + ")");
  }
  if (!budget.length) budget.push("unbounded: every announcement from a neighbour");
  if (a.diversity_share > 0) budget.push(share(a.diversity_share) + " of admissions for novelty");
  const ignored = a.not_neighbour + a.duplicate + a.replaced + a.overflow + a.expired;
  kv($("admission"), [
    ["neighbours", a.topology === "all" ? "all " + Math.max(a.known_peers - 1, 0) + " known peers" : a.neighbours + " of " + Math.max(a.known_peers - 1, 0) + " known peers"],
    ["budget", budget.join("; ")],
    ["heard", String(a.heard) + " (" + a.waiting + " waiting)"],
    ["not admitted", ignored + ": " + a.not_neighbour + " not from a neighbour, " + a.replaced + " replaced, " + a.expired + " expired, " + (a.overflow + a.duplicate) + " other"],
    ["admitted", net + " (" + (a.admitted - a.diverse) + " by claim, " + a.diverse + " for novelty" + (a.refunded ? ", " + a.refunded + " refunded" + (a.bogus || a.unreachable ? " (" + [a.bogus ? a.bogus + " bogus" : "", a.unreachable ? a.unreachable + " unreachable" : ""].filter(Boolean).join(", ") + ")" : "") : "") + ")"],
    ["re-measured", a.remeasured + ", " + si(a.remeasure_flops, "FLOP") + " (" + pct(a.remeasure_share) + " of " + si(a.remeasure_flops + a.work_flops, "FLOP") + ")"],
  ]);
}

// ---- child phases -----------------------------------------------------

const PHASE_COLOURS = {
  select: "#7c3aed", mutate: "#db2777", build: "#d97706", train: "#2563eb",
  evaluate: "#0891b2", store: "#059669", emigrate: "#6b7280",
};

function secs(s) {
  if (!isFinite(s)) return "–";
  if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms";
  return s.toFixed(2) + " s";
}

// renderPhases draws the mean time of each phase of a child made since the
// daemon started: a stacked bar and one row per phase.
function renderPhases(cp) {
  const bar = $("phases"), dl = $("phase-split");
  clear(bar);
  if (!cp || !cp.children || !(cp.seconds > 0)) {
    $("phase-title").textContent = "";
    kv(dl, [["per child", "no child made since the daemon started"]]);
    return;
  }
  $("phase-title").textContent = "(mean of " + cp.children + " children: " + secs(cp.seconds / cp.children) + " each)";
  const W = 400, H = 18;
  let x = 0;
  clear(dl);
  for (const p of cp.phases || []) {
    const share = p.seconds / cp.seconds;
    const colour = PHASE_COLOURS[p.phase] || "#9ca3af";
    const w = share * W;
    if (w > 0) {
      const r = svg("rect", { x: x.toFixed(2), y: 0, width: w.toFixed(2), height: H, fill: colour, class: "phase " + p.phase }, bar);
      title(r, p.phase + ": " + secs(p.seconds / cp.children) + " per child, " + (share * 100).toFixed(1) + "%");
      x += w;
    }
    const dt = html("dt", {}, null, dl);
    const icon = svg("svg", { viewBox: "0 0 10 10" }, dt);
    svg("rect", { width: 10, height: 10, rx: 2, fill: colour }, icon);
    dt.appendChild(document.createTextNode(p.phase));
    html("dd", { class: "phase-" + p.phase }, secs(p.seconds / cp.children) + " (" + (share * 100).toFixed(1) + "%)", dl);
  }
}

// ---- scatter (Figure 1) -----------------------------------------------

function born(ind) { return Date.parse(ind.born); }

function niceStep(range, n) {
  const raw = range / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

function renderScatter() {
  const el = $("scatter");
  clear(el);
  const W = 900, H = 360, L = 56, R = 16, T = 12, B = 40;
  const pts = state.individuals.filter((i) => i.birth_seq > 0 && i.status !== "training" && isFinite(born(i)));
  if (!pts.length) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, el).textContent = "waiting for the first individual…";
    return;
  }
  // The right edge is the latest birth: the daemon's clock, not the
  // browser's, so that the two need not agree.
  const [t0, now] = extent(pts.map(born));
  const span = Math.max((now - t0) / 60000 * 1.03, 0.1); // minutes, a little room on the right
  const useSec = span < 3;
  const unit = useSec ? 1 / 60 : 1;
  const xmax = span / unit;
  let [ylo, yhi] = extent(pts.map((p) => p.val_accuracy));
  ylo = Math.max(0, Math.floor((ylo - 0.02) * 20) / 20);
  yhi = Math.min(1, Math.ceil((yhi + 0.02) * 20) / 20);
  if (yhi - ylo < 0.1) { ylo = Math.max(0, yhi - 0.1); }
  const x = (t) => L + ((t - t0) / 60000 / unit) / xmax * (W - L - R);
  const y = (a) => T + (1 - (a - ylo) / (yhi - ylo)) * (H - T - B);

  const axis = svg("g", { class: "axis" }, el);
  const ys = niceStep(yhi - ylo, 5);
  for (let v = Math.ceil(ylo / ys) * ys; v <= yhi + 1e-9; v += ys) {
    svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }, axis);
    svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, axis).textContent = (v * 100).toFixed(0) + "%";
  }
  const xs = niceStep(xmax, 8);
  for (let v = 0; v <= xmax + 1e-9; v += xs) {
    const px = L + v / xmax * (W - L - R);
    svg("line", { x1: px, x2: px, y1: H - B, y2: H - B + 4 }, axis);
    svg("text", { x: px, y: H - B + 16, "text-anchor": "middle" }, axis).textContent = String(+v.toFixed(2));
  }
  svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B }, axis);
  svg("line", { x1: L, x2: L, y1: T, y2: H - B }, axis);
  svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, axis).textContent =
    "wall time since the first birth (" + (useSec ? "s" : "min") + ")";
  svg("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, axis).textContent = "validation accuracy";

  // Best so far: a step line over births in time order.
  const sorted = pts.slice().sort((a, b) => born(a) - born(b) || a.birth_seq - b.birth_seq);
  let best = -1, d = "";
  for (const p of sorted) {
    if (p.val_accuracy > best) {
      const px = x(born(p)).toFixed(1);
      d += d ? " H" + px + " V" + y(p.val_accuracy).toFixed(1) : "M" + px + " " + y(p.val_accuracy).toFixed(1);
      best = p.val_accuracy;
    }
  }
  d += " H" + x(now).toFixed(1);
  svg("path", { d, class: "bestline" }, el);

  // Dead first, so that the living are drawn on top.
  const sel = currentID();
  const order = sorted.slice().sort((a, b) => (a.status === "alive") - (b.status === "alive"));
  const dots = svg("g", { id: "dots" }, el);
  for (const p of order) {
    const cx = x(born(p)), cy = y(Math.max(p.val_accuracy, ylo));
    const alive = p.status === "alive";
    const colour = alive ? originColour(p.origin) : "#9ca3af";
    const r = alive ? 5 : 3;
    let g;
    if (p.immigrant) {
      // An immigrant: a diamond in its origin's colour.
      const s = r + 1.5;
      g = svg("path", { d: `M${cx} ${cy - s}L${cx + s} ${cy}L${cx} ${cy + s}L${cx - s} ${cy}Z`, fill: p.status === "alive" ? colour : "none", stroke: originColour(p.origin), "stroke-width": 1.5 }, dots);
    } else {
      g = svg("circle", { cx, cy, r, fill: colour, stroke: alive ? "#111827" : "none", "stroke-width": alive ? 1 : 0 }, dots);
    }
    let cls = "dot " + (alive ? "alive" : "dead");
    if (p.id === sel) cls += " selected";
    g.setAttribute("class", cls);
    g.dataset.id = p.id;
    title(g, short(p.id) + "  " + pct(p.val_accuracy) + "  " + (p.mutation || "initial") + "  " + p.status + "  from " + originName(p.origin));
    g.addEventListener("click", () => select(p.id));
  }
  renderLegend();
}

function renderLegend() {
  const el = $("legend");
  clear(el);
  const item = (draw, label) => {
    const s = html("span", {}, null, el);
    const icon = document.createElementNS(SVGNS, "svg");
    icon.setAttribute("viewBox", "0 0 14 14");
    draw(icon);
    s.appendChild(icon);
    s.appendChild(document.createTextNode(label));
  };
  item((g) => svg("circle", { cx: 7, cy: 7, r: 5, fill: "#374151", stroke: "#111827" }, g), "alive (local)");
  item((g) => svg("circle", { cx: 7, cy: 7, r: 3, fill: "#9ca3af" }, g), "dead");
  item((g) => svg("path", { d: "M1 7H13", stroke: "#2563eb", "stroke-width": 2 }, g), "best so far");
  const seen = new Set(state.individuals.filter((i) => i.immigrant).map((i) => i.origin));
  for (const o of seen) {
    const c = originColour(o);
    item((g) => svg("path", { d: "M7 1L13 7L7 13L1 7Z", fill: c, stroke: c }, g), "immigrant from " + short(o));
  }
}

// ---- population table -------------------------------------------------

function sortValue(ind, key) {
  switch (key) {
    case "age": return -born(ind) || 0;
    case "origin": return originName(ind.origin);
    case "mutation": return ind.mutation || "initial";
    default: return ind[key];
  }
}

function renderTable() {
  const showDead = $("show-dead").checked;
  const rows = state.individuals.filter((i) => showDead || i.status !== "dead");
  const { sortKey: k, sortDir: dir } = state;
  rows.sort((a, b) => {
    const va = sortValue(a, k), vb = sortValue(b, k);
    return (va < vb ? -1 : va > vb ? 1 : 0) * dir || a.birth_seq - b.birth_seq;
  });
  for (const th of document.querySelectorAll("#population th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === k && dir > 0);
    th.classList.toggle("sorted-desc", th.dataset.key === k && dir < 0);
  }
  $("popcount").textContent = rows.length + " shown of " + state.individuals.length + " recorded";
  const body = document.querySelector("#population tbody");
  const frag = document.createDocumentFragment();
  const sel = currentID();
  const now = Date.now();
  for (const ind of rows) {
    const tr = html("tr", { class: "ind " + ind.status + (ind.id === sel ? " selected" : "") }, null, frag);
    tr.dataset.id = ind.id;
    html("td", { class: "mono", title: ind.id }, short(ind.id), tr);
    html("td", {}, ind.status, tr);
    html("td", { class: "num" }, ind.birth_seq > 0 ? pct(ind.val_accuracy) : "–", tr);
    html("td", { class: "num" }, ind.params ? ind.params.toLocaleString() : "–", tr);
    html("td", { class: "num" }, ind.flops ? si(ind.flops) : "–", tr);
    html("td", { class: "num" }, ind.birth_seq > 0 ? duration(now - born(ind)) : "–", tr);
    const o = html("td", { class: "mono", title: ind.origin }, null, tr);
    const sw = html("span", { class: "swatch" }, null, o);
    sw.setAttribute("data-colour", originColour(ind.origin));
    o.appendChild(document.createTextNode(originName(ind.origin) + (ind.immigrant ? " (immigrant)" : "")));
    html("td", { title: ind.error || "" }, (ind.mutation || "initial") + (ind.error ? " ⚠" : ""), tr);
    tr.addEventListener("click", () => select(ind.id));
  }
  clear(body);
  body.appendChild(frag);
  // Swatch colours through the CSSOM (allowed by the page's CSP, unlike
  // inline style attributes).
  for (const s of body.querySelectorAll(".swatch")) s.style.background = s.getAttribute("data-colour");
}

function setupTable() {
  for (const th of document.querySelectorAll("#population th")) {
    th.addEventListener("click", () => {
      const k = th.dataset.key;
      if (state.sortKey === k) state.sortDir = -state.sortDir;
      else { state.sortKey = k; state.sortDir = k === "id" || k === "origin" || k === "mutation" || k === "status" ? 1 : -1; }
      renderTable();
    });
  }
  $("show-dead").addEventListener("change", renderTable);
  $("follow-best").addEventListener("click", (e) => { e.preventDefault(); select(null); });
}

// ---- selection: genome and lineage ------------------------------------

function currentID() {
  if (state.selected) return state.selected;
  return state.status && state.status.best ? state.status.best.id : null;
}

function select(id) {
  state.selected = id;
  $("follow-best").classList.toggle("hidden", !id);
  renderScatter();
  renderTable();
  renderSelection();
}

async function renderSelection() {
  const id = currentID();
  if (!id) return;
  const label = state.selected ? "of " + short(id) : "of the best, " + short(id);
  if (state.genomeKey !== id) {
    try {
      const g = await getJSON("api/v1/genome?id=" + encodeURIComponent(id));
      state.genomeKey = id;
      $("genome-title").textContent = label + " · " + g.params.toLocaleString() + " params · " + si(g.flops) + "FLOPs/image";
      drawGenome(g);
    } catch (e) {
      $("genome-title").textContent = String(e.message || e);
    }
  }
  // A lineage changes slowly (its steps die, its chain is joined): read
  // again when another individual is shown, or every 30 s, not every poll.
  if (state.lineageKey !== id || Date.now() - state.lineageAt > 30000) {
    try {
      const l = await getJSON("api/v1/lineage?id=" + encodeURIComponent(id));
      state.lineageKey = id;
      state.lineageAt = Date.now();
      $("lineage-title").textContent = label + " · " + l.length + " generations";
      drawLineage(l);
    } catch (e) {
      $("lineage-title").textContent = String(e.message || e);
    }
  }
}

// extent returns [min, max] of a non-empty array of numbers (a loop:
// Math.min(...a) throws past about 100,000 elements).
function extent(a) {
  let lo = a[0], hi = a[0];
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function edgeLabel(e) {
  if (e.type !== "conv") return "identity";
  return e.filter_h + "×" + e.filter_w + " s" + e.stride + " →" + e.channels + "ch";
}

function drawGenome(g) {
  const el = $("genome");
  clear(el);
  const BW = 150, BH = 34, GAP = 34, PADX = 120, PADY = 10;
  // Layers: one vertex per row in topological order; the backbone in one
  // column, any vertex off it shifted right; skips curve out on the left.
  const rank = new Map(), pos = new Map();
  const W = PADX + BW + 150;
  g.vertices.forEach((v, i) => {
    rank.set(v.id, i);
    const x = PADX + (v.backbone ? 0 : BW * 0.7);
    pos.set(v.id, { x, y: PADY + i * (BH + GAP) });
  });
  const H = PADY * 2 + g.vertices.length * (BH + GAP) - GAP;
  el.setAttribute("viewBox", "0 0 " + W + " " + H);
  el.setAttribute("width", W);
  el.setAttribute("height", H);
  const defs = svg("defs", {}, el);
  const mk = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  svg("path", { d: "M0 0L10 5L0 10Z", fill: "#4b5563" }, mk);
  const mk2 = svg("marker", { id: "arrow-skip", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  svg("path", { d: "M0 0L10 5L0 10Z", fill: "#d97706" }, mk2);

  const edges = svg("g", {}, el);
  for (const e of g.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const span = Math.abs(rank.get(e.to) - rank.get(e.from));
    let p, lx, ly;
    if (!e.skip && span === 1 && a.x === b.x) {
      const cx = a.x + BW / 2;
      p = svg("path", { d: `M${cx} ${a.y + BH}L${cx} ${b.y}`, class: "edge", "marker-end": "url(#arrow)" }, edges);
      lx = cx + 6; ly = (a.y + BH + b.y) / 2 + 4;
      svg("text", { x: lx, y: ly, class: "elabel" }, edges).textContent = edgeLabel(e);
    } else {
      // Curve out to the left, further for longer jumps.
      const bend = Math.min(PADX - 8, 24 + span * 10);
      const x1 = a.x, y1 = a.y + BH / 2, x2 = b.x, y2 = b.y + BH / 2;
      p = svg("path", { d: `M${x1} ${y1}C${x1 - bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}`,
        class: "edge" + (e.skip ? " skip" : ""), "marker-end": e.skip ? "url(#arrow-skip)" : "url(#arrow)" }, edges);
      lx = Math.min(x1, x2) - bend * 0.75 - 4; ly = (y1 + y2) / 2 + 4;
      svg("text", { x: lx, y: ly, class: "elabel", "text-anchor": "end" }, edges).textContent = e.type === "conv" ? edgeLabel(e) : "skip";
    }
    title(p, "edge " + e.id + ": " + edgeLabel(e) + " → " + e.shape.h + "×" + e.shape.w + "×" + e.shape.c + (e.skip ? " (skip)" : ""));
  }
  const boxes = svg("g", {}, el);
  const inputID = g.vertices.length ? g.vertices[0].id : -1;
  for (const v of g.vertices) {
    const { x, y } = pos.get(v.id);
    const io = v.id === inputID || v.id === g.output_vertex;
    svg("rect", { x, y, width: BW, height: BH, rx: 5, class: "vbox " + v.type + (io ? " io" : "") }, boxes);
    const name = v.id === inputID ? "input" : v.id === g.output_vertex ? "output" : "v" + v.id;
    svg("text", { x: x + 8, y: y + 14 }, boxes).textContent = name + " · " + v.type;
    svg("text", { x: x + 8, y: y + 27, class: "shape" }, boxes).textContent = v.shape.h + "×" + v.shape.w + "×" + v.shape.c;
  }
}

// nodeTag names a peer by the end of its ID (peer IDs share their start).
const nodeTag = (p) => (p ? "…" + p.slice(-8) : "?");
// One colour per node along a lineage, in the order they appear.
const NODE_COLOURS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];

// An unknown step ends the known chain (ChainUnknown; "elsewhere" from a
// node of an older build).
const unknownStep = (a) => a.chain_unknown || a.status === "unknown" || a.status === "elsewhere";

function drawLineage(l) {
  const list = $("lineage");
  clear(list);
  const self = state.status ? state.status.peer_id : "";
  const colour = new Map();
  for (const a of l) {
    if (a.node && !colour.has(a.node)) colour.set(a.node, NODE_COLOURS[colour.size % NODE_COLOURS.length]);
  }
  const nodes = colour.size;
  $("lineage-title").textContent += nodes > 1 ? " · across " + nodes + " nodes" : "";
  let prev = null, prevNode = null;
  for (const a of l) {
    const li = html("li", {}, null, list);
    html("span", { class: "mono", title: a.id }, short(a.id), li);
    if (unknownStep(a)) {
      li.appendChild(document.createTextNode(" · its ancestry is unknown here (its sender did not give it)"));
      prevNode = null;
      continue;
    }
    li.appendChild(document.createTextNode(" · " + (a.mutation || "?") + " → "));
    html("b", {}, pct(a.val_accuracy), li);
    if (prev !== null && !a.immigrant) {
      const dlt = a.val_accuracy - prev;
      html("span", { class: dlt >= 0 ? "up" : "down" }, " (" + (dlt >= 0 ? "+" : "") + (dlt * 100).toFixed(2) + ")", li);
    }
    li.appendChild(document.createTextNode(" · " + a.status + " on "));
    const who = a.node === self && self ? "this node" : nodeTag(a.node);
    html("span", { class: "mono", title: a.node || "node unknown" }, who, li);
    if (a.immigrant) {
      li.appendChild(document.createTextNode(" · immigrant" + (prevNode && prevNode !== a.node ? " from " + nodeTag(prevNode) : a.origin ? " from " + nodeTag(a.origin) : "")));
    }
    prev = a.val_accuracy;
    prevNode = a.node;
  }
  // A step chart of fitness along the lineage, a dot per step in its
  // node's colour.
  const el = $("lineage-chart");
  clear(el);
  const pts = l.map((a, i) => [i, unknownStep(a) ? null : a.val_accuracy]).filter((p) => p[1] !== null);
  if (!pts.length) return;
  const W = 600, H = 150, L = 44, R = 10, T = 10, B = 20;
  const [amin, amax] = extent(pts.map((p) => p[1]));
  const lo = Math.max(0, amin - 0.02), hi = Math.min(1, amax + 0.02);
  const n = Math.max(l.length - 1, 1);
  const x = (i) => L + i / n * (W - L - R), y = (a) => T + (1 - (a - lo) / (hi - lo || 1)) * (H - T - B);
  const ax = svg("g", { class: "axis" }, el);
  svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B }, ax);
  svg("line", { x1: L, x2: L, y1: T, y2: H - B }, ax);
  svg("text", { x: L - 4, y: y(hi) + 4, "text-anchor": "end" }, ax).textContent = (hi * 100).toFixed(0) + "%";
  svg("text", { x: L - 4, y: y(lo) + 4, "text-anchor": "end" }, ax).textContent = (lo * 100).toFixed(0) + "%";
  svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, ax).textContent = "generation" + (nodes > 1 ? " (colour: node)" : "");
  let d = "";
  for (const [i, a] of pts) d += (d ? " L" : "M") + x(i).toFixed(1) + " " + y(a).toFixed(1);
  svg("path", { d, class: "step" }, el);
  for (const [i, a] of pts) {
    const s = l[i];
    const attrs = { cx: x(i), cy: y(a), r: 3 };
    if (nodes > 1 && colour.has(s.node)) attrs.fill = colour.get(s.node);
    title(svg("circle", attrs, el), s.mutation + " → " + pct(a) + " · on " + (s.node || "?") + (s.immigrant ? " (immigrant)" : ""));
  }
}

setupTable();
poll();
