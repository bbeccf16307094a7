// falplane dashboard: a small vanilla module, no framework, no build step.
// It calls the platform's own API (/v1) with the key the user typed, which it
// keeps in sessionStorage only: never in a URL, a cookie, localStorage or a log.
// Every text from the API goes into the page through textContent, never HTML.

const KEY_STORAGE = "falplane.dashboard.key";
const POLL_MS = 2000;
// The platform samples queue depth and latency every 5 s and keeps an hour
// (GET /v1/dashboard/apps/{name}/history); the charts show at least this much.
const MIN_SPAN_MS = 5 * 60 * 1000;

const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  apps: [],
  selected: null, // { name, env }
  app: null,
  revisions: [],
  logsFor: null, // request id whose logs are open
  live: null, // { t, in_queue, in_progress }: GET .../queue at the last poll
  history: null, // GET .../history: { interval_s, window_s, samples }
  historyAt: 0, // when it was fetched (ms)
  machineTypes: null, // { [name]: { gpus } } from /dashboard/machine-types.json
  revisionGpus: new Map(), // revision id -> num_gpus, for runners of revisions not in the list
  timer: null,
  polling: false,
  rendered: new Map(), // table id -> last data rendered (JSON), to leave unchanged tables (and focus) alone
};

// ---------------------------------------------------------------- helpers

/** Builds an element: h("td", { class: "x" }, "text", child). Strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const short = (id) => (id ? String(id).slice(0, 8) : "—");
const pad = (n) => String(n).padStart(2, "0");
function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
const ms = (v) => (v === null || v === undefined ? "—" : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);

function badge(text, kind) {
  return h("span", { class: `badge badge-${kind || String(text).toLowerCase().replace(/[^a-z]+/g, "-")}` }, text);
}

function say(text) {
  $("status").textContent = text;
}
function fail(text) {
  const e = $("error");
  e.textContent = text;
  e.hidden = !text;
}

/** Replaces a table's body unless its data did not change; keeps keyboard focus on the same control. */
function fillTable(id, data, rows, empty) {
  const json = JSON.stringify(data);
  if (state.rendered.get(id) === json) return;
  state.rendered.set(id, json);
  const tbody = $(id).tBodies[0];
  const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
  const cols = $(id).tHead.rows[0].cells.length;
  const built = rows();
  tbody.replaceChildren(...(built.length ? built : [h("tr", {}, h("td", { colspan: cols, class: "empty" }, empty))]));
  if (focused) tbody.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
}

// ---------------------------------------------------------------- the API

function key() {
  return sessionStorage.getItem(KEY_STORAGE);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Key ${key()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || "http", err.message || `${method} ${path}: HTTP ${res.status}`);
  }
  return data;
}

const q = (s) => encodeURIComponent(s);
const appPath = (sel, rest = "") => `/v1/apps/${q(sel.name)}${rest}?env=${q(sel.env)}`;
const dashPath = (sel, rest) => `/v1/dashboard/apps/${q(sel.name)}${rest}${rest.includes("?") ? "&" : "?"}env=${q(sel.env)}`;

// ---------------------------------------------------------------- sign in / out

function show(section) {
  for (const id of ["signin", "limited", "apps-section", "app-section"]) $(id).hidden = !section.includes(id);
}

async function signIn() {
  fail("");
  let me;
  try {
    me = await api("GET", "/v1/me");
  } catch (err) {
    if (err.status === 401) {
      signOut(`Sign-in failed: ${err.message}.`);
      return;
    }
    signOut(`Sign-in failed: ${err.message}`);
    return;
  }
  state.me = me;
  $("who-text").textContent = `${me.owner} · key ${me.key_id} · ${me.scope}`;
  $("who").hidden = false;
  if (me.scope !== "ADMIN") {
    $("limited-text").textContent = `Signed in as owner ${me.owner} with key ${me.key_id}, scope ${me.scope}.`;
    show(["limited"]);
    say(`Signed in with an ${me.scope} key.`);
    return;
  }
  show(["apps-section"]);
  say(`Signed in as ${me.owner} (ADMIN).`);
  await loadMachineTypes();
  await poll();
  state.timer = setInterval(() => void poll(), POLL_MS);
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  clearInterval(state.timer);
  state.timer = null;
  Object.assign(state, { me: null, apps: [], selected: null, app: null, revisions: [], logsFor: null, live: null, history: null, historyAt: 0 });
  state.revisionGpus.clear();
  state.rendered.clear();
  $("who").hidden = true;
  $("key").value = "";
  show(["signin"]);
  say(message === undefined ? "Signed out." : "");
  fail(message || "");
  $("key").focus();
}

// ---------------------------------------------------------------- polling

async function poll() {
  if (state.polling || !state.me) return;
  state.polling = true;
  try {
    state.apps = await api("GET", "/v1/apps");
    renderApps();
    if (!state.selected) state.selected = fromHash() || (state.apps[0] && { name: state.apps[0].name, env: state.apps[0].environment });
    const sel = state.selected;
    if (sel && state.apps.some((a) => a.name === sel.name && a.environment === sel.env)) {
      // The history changes once per platform sample: fetched at that pace, not every poll.
      const historyDue = !state.history || Date.now() - state.historyAt >= state.history.interval_s * 1000;
      const [app, revisions, runners, requests, queue, usage, history] = await Promise.all([
        api("GET", appPath(sel)),
        api("GET", appPath(sel, "/revisions")),
        api("GET", appPath(sel, "/runners")),
        api("GET", dashPath(sel, "/requests?limit=25")),
        api("GET", dashPath(sel, "/queue")),
        api("GET", appPath(sel, "/usage")),
        historyDue ? api("GET", dashPath(sel, "/history")) : null,
      ]);
      if (state.selected !== sel) return; // another app was opened meanwhile
      state.app = app;
      state.revisions = revisions;
      $("app-section").hidden = false;
      renderApp(app, revisions);
      renderRunners(runners);
      state.live = { t: Date.parse(queue.at), in_queue: queue.in_queue, in_progress: queue.in_progress };
      if (history) Object.assign(state, { history, historyAt: Date.now() });
      renderCharts();
      renderRequests(requests);
      renderUsage(usage);
      if (state.logsFor) await loadLogs(state.logsFor, false);
    } else {
      $("app-section").hidden = true;
    }
    fail("");
  } catch (err) {
    if (err.status === 401) return signOut(`Signed out: ${err.message}.`);
    fail(`Could not refresh: ${err.message}`);
  } finally {
    state.polling = false;
  }
}

function fromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  return p.get("app") ? { name: p.get("app"), env: p.get("env") || "main" } : null;
}

function openApp(name, env) {
  state.selected = { name, env };
  Object.assign(state, { live: null, history: null, historyAt: 0 });
  state.logsFor = null;
  $("logs-section").hidden = true;
  for (const id of ["scaling", "revisions", "runners", "requests", "usage"]) state.rendered.delete(id);
  history.replaceState(null, "", `#app=${q(name)}&env=${q(env)}`);
  say(`Opened app ${name} in ${env}.`);
  void poll().then(() => $("app-h").focus());
}

// ---------------------------------------------------------------- rendering

function renderApps() {
  const json = JSON.stringify(state.apps);
  if (state.rendered.get("apps") === json) return;
  state.rendered.set("apps", json);
  const focused = document.activeElement?.dataset.focus;
  const byEnv = new Map();
  for (const a of state.apps) byEnv.set(a.environment, [...(byEnv.get(a.environment) || []), a]);
  const box = $("apps");
  if (byEnv.size === 0) {
    box.replaceChildren(h("p", {}, "No apps yet. Deploy one with Pulumi or falctl."));
    return;
  }
  box.replaceChildren(
    ...[...byEnv].map(([env, apps]) =>
      h(
        "div",
        { class: "scroll", role: "region", "aria-label": `Apps in environment ${env}`, tabindex: 0 },
        h(
          "table",
          { class: "apps" },
          h("caption", {}, `Environment ${env}`),
          h(
            "thead",
            {},
            h("tr", {}, ...["App", "Endpoint id", "Auth", "Current revision", "Strategy", "Scaling (min / max / keep alive)"].map((t) => h("th", { scope: "col" }, t))),
          ),
          h(
            "tbody",
            {},
            apps.map((a) =>
              h(
                "tr",
                { "data-app": a.name, "data-env": env },
                h("th", { scope: "row" }, h("button", { type: "button", class: "link", "data-focus": `open-${env}-${a.name}`, onclick: () => openApp(a.name, env), "aria-label": `Open app ${a.name} in ${env}` }, a.name)),
                h("td", {}, h("code", {}, a.endpoint_id)),
                h("td", {}, a.auth_mode),
                h("td", {}, h("code", { title: a.revision || "" }, short(a.revision))),
                h("td", {}, a.is_rolling ? badge("switching (rolling)", "building") : "per switch"),
                h("td", {}, `${a.scaling.min_concurrency} / ${a.scaling.max_concurrency} / ${a.scaling.keep_alive} s`),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  if (focused) box.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
}

const SCALING_KEYS = ["min_concurrency", "max_concurrency", "concurrency_buffer", "concurrency_buffer_perc", "keep_alive", "scaling_delay", "request_timeout", "regions"];
const fmtScale = (k, v) => (v === undefined ? "—" : k === "regions" ? (v.length ? v.join(", ") : "any") : ["keep_alive", "scaling_delay", "request_timeout"].includes(k) ? `${v} s` : k.endsWith("perc") ? `${v} %` : String(v));

function renderApp(app, revisions) {
  $("app-title").textContent = `${app.name} (${app.environment})`;
  const current = revisions.find((r) => r.id === app.revision);
  const facts = [
    ["Endpoint id", h("code", {}, app.endpoint_id)],
    ["Auth mode", app.auth_mode],
    ["Current revision", h("code", { "data-current-revision": app.revision || "" }, app.revision || "none")],
    ["Strategy", app.is_rolling ? "a rolling switch is in progress" : "chosen at each switch (rolling or recreate); none in progress"],
    ["Machine types", current ? current.machine_types.join(", ") : "—"],
    ["Updated", when(app.updated_at)],
  ];
  const factsJson = JSON.stringify([app, current && current.id]);
  if (state.rendered.get("facts") !== factsJson) {
    state.rendered.set("facts", factsJson);
    $("app-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  const code = current ? current.scaling : {};
  fillTable("scaling", [app.scaling, code], () =>
    SCALING_KEYS.map((k) => {
      const live = app.scaling[k];
      const fromCode = JSON.stringify(live) === JSON.stringify(code[k]);
      return h(
        "tr",
        {},
        h("th", { scope: "row" }, h("code", {}, k)),
        h("td", {}, fmtScale(k, live)),
        h("td", {}, current ? fmtScale(k, code[k]) : "—"),
        h("td", {}, current ? (fromCode ? badge("code", "code") : badge("tuned at run time", "tuned")) : "—"),
      );
    }),
  "");

  const currentCreated = current ? Date.parse(current.created_at) : Infinity;
  fillTable("revisions", [revisions, app.revision], () =>
    revisions.map((r) => {
      const isCurrent = r.id === app.revision;
      const older = Date.parse(r.created_at) < currentCreated;
      const verb = older ? "Roll back" : "Switch";
      return h(
        "tr",
        { "data-revision": r.id },
        h("th", { scope: "row" }, h("code", { title: r.id }, short(r.id))),
        h(
          "td",
          { class: "badges" },
          isCurrent ? badge("Current", "current") : null,
          r.status === "Failed" ? badge("Failed", "failed") : null,
          r.status === "Building" ? badge("Building", "building") : null,
          r.status === "Deploying" ? badge(isCurrent ? "Deploying" : "Not deployed", "muted") : null,
          r.status === "Deployed" && !isCurrent ? badge("Deployed before", "muted") : null,
          r.error ? h("span", { class: "err" }, r.error) : null,
        ),
        h("td", {}, r.message || "—"),
        h("td", {}, r.annotations && r.annotations.git_commit ? h("code", {}, r.annotations.git_commit.slice(0, 12)) : "—"),
        h("td", {}, when(r.created_at)),
        h(
          "td",
          {},
          isCurrent
            ? ""
            : h(
                "button",
                { type: "button", "data-focus": `switch-${r.id}`, "aria-label": `${verb} to revision ${short(r.id)}`, onclick: () => confirmSwitch(r, verb), disabled: r.status === "Building" },
                verb + "…",
              ),
        ),
      );
    }),
  "No revisions.");
}

async function loadMachineTypes() {
  if (state.machineTypes) return;
  try {
    const res = await fetch("/dashboard/machine-types.json", { cache: "no-store", credentials: "omit" });
    if (res.ok) state.machineTypes = await res.json();
  } catch {
    // The GPU column then shows "?"; everything else works.
  }
}

/** num_gpus of a revision: from the revisions list, else fetched once (GET /v1/revisions/{id}); undefined until known. */
function numGpus(revisionId) {
  const listed = state.revisions.find((r) => r.id === revisionId);
  if (listed) return listed.code_settings.num_gpus;
  if (state.revisionGpus.has(revisionId)) return state.revisionGpus.get(revisionId);
  state.revisionGpus.set(revisionId, undefined);
  api("GET", `/v1/revisions/${q(revisionId)}`).then(
    (r) => state.revisionGpus.set(revisionId, r.code_settings.num_gpus),
    () => state.revisionGpus.delete(revisionId),
  );
  return undefined;
}

/** GPUs a runner holds, as the platform counts them: its machine type's GPUs × num_gpus (at least 1); "—" for CPU machines. */
function runnerGpus(r) {
  const type = state.machineTypes && state.machineTypes[r.machine_type];
  if (!type) return "?";
  if (type.gpus === 0) return "—";
  const n = numGpus(r.revision);
  return n === undefined ? "…" : String(type.gpus * Math.max(1, n));
}

function renderRunners(runners) {
  const gpus = runners.map(runnerGpus);
  // Uptime changes every poll; the table holds no control, so redrawing it costs no focus.
  fillTable("runners", [runners, gpus], () =>
    runners.map((r, i) =>
      h(
        "tr",
        { "data-runner": r.runner_id, "data-state": r.state },
        h("th", { scope: "row" }, r.runner_id ? h("code", { title: r.runner_id }, short(r.runner_id)) : "—"),
        h("td", {}, badge(r.state, `state-${r.state.toLowerCase().replace(/_/g, "-")}`)),
        h("td", {}, h("code", { title: r.revision }, short(r.revision))),
        h("td", {}, r.machine_type || "—"),
        h("td", { class: "gpus" }, gpus[i] === "—" ? h("span", { "aria-label": "none (CPU)", title: "none (CPU)" }, "—") : gpus[i]),
        h("td", {}, r.region || "—"),
        h("td", {}, r.runner_id ? duration(r.uptime) : "—"),
        h("td", {}, String(r.in_flight_requests)),
        h("td", { class: r.error ? "err" : "" }, r.reason || r.error || "—"),
      ),
    ),
  "No runners. One starts on the next call (or for min_concurrency).");
}

function renderRequests(requests) {
  fillTable("requests", requests, () =>
    requests.map((r) => {
      const outcome = r.status !== "COMPLETED" ? r.status : r.result_status && r.result_status < 400 ? "COMPLETED" : "FAILED";
      return h(
        "tr",
        { "data-request": r.id, "data-status": r.status },
        h("th", { scope: "row" }, h("code", { title: r.id }, short(r.id)), r.path && r.path !== "/" ? h("span", { class: "hint" }, ` ${r.path}`) : null),
        h("td", {}, badge(outcome, `req-${outcome.toLowerCase().replace(/_/g, "-")}`), r.error_type ? h("span", { class: "err" }, ` ${r.error_type}`) : null),
        h("td", {}, r.result_status ?? "—"),
        h("td", {}, ms(r.run_ms)),
        h("td", {}, ms(r.wait_ms)),
        h("td", {}, h("code", { title: r.runner_id || "" }, short(r.runner_id))),
        h("td", {}, String(r.retries)),
        h("td", {}, when(r.created_at)),
        h("td", {}, h("button", { type: "button", "data-focus": `logs-${r.id}`, "aria-label": `Logs of request ${short(r.id)}`, onclick: () => void loadLogs(r.id, true) }, "Logs")),
      );
    }),
  "No queued requests yet.");
}

function renderUsage(usage) {
  fillTable("usage", usage, () =>
    usage.map((u) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, u.caller)), h("td", {}, String(u.calls)), h("td", {}, when(u.last_at)))),
  "No calls with a key recorded yet.");
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const W = 300;
const H = 80;

/**
 * Draws series of [t, value] points (value null: no value, skipped) into an SVG, newest
 * `now` at the right edge and `span` ms across; a dashed line marks `peak`.
 */
function drawChart(el, { now, span, peak, series }) {
  const scale = Math.max(1, peak);
  const x = (t) => W - ((now - t) / span) * W;
  const y = (v) => H - 4 - (v / scale) * (H - 12);
  const lines = [];
  for (const { cls, points } of series) {
    // Samples without a value (no request completed) are skipped, not drawn as zero; a lone point becomes a short tick.
    let run = points.filter(([t, v]) => v !== null && v !== undefined && t >= now - span).map(([t, v]) => [x(t), y(v)]);
    if (run.length === 1) run = [[run[0][0] - 3, run[0][1]], [run[0][0] + 3, run[0][1]]];
    if (run.length) lines.push(svg("polyline", { class: cls, points: run.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ") }));
  }
  el.replaceChildren(
    svg("line", { class: "axis", x1: 0, y1: H - 4, x2: W, y2: H - 4 }),
    peak > 0 ? svg("line", { class: "grid", x1: 0, y1: y(peak), x2: W, y2: y(peak) }) : "",
    ...lines,
  );
}

const ago = (ms) => (ms >= 3600_000 ? "1 h" : `${Math.round(ms / 60_000)} min`);
const clock = (t) => when(new Date(t).toISOString()).slice(11);

/** Queue depth and latency over the last hour, from the platform's own samples; the newest depth point is the live one. */
function renderCharts() {
  const hist = state.history || { interval_s: 5, window_s: 3600, samples: [] };
  const samples = hist.samples.map((s) => ({ ...s, t: Date.parse(s.at) }));
  const live = state.live;
  const now = Math.max(live ? live.t : 0, samples.length ? samples[samples.length - 1].t : 0, 1);
  const oldest = samples.length ? samples[0].t : now;
  const span = Math.min(hist.window_s * 1000, Math.max(MIN_SPAN_MS, now - oldest));
  const every = `sampled by the platform every ${hist.interval_s} s`;
  for (const id of ["queue-from", "latency-from"]) $(id).textContent = `${ago(span)} ago`;

  // Queue depth: waiting and in progress.
  const depth = [...samples, ...(live ? [live] : [])];
  const peak = Math.max(0, ...depth.map((s) => s.in_queue + s.in_progress));
  drawChart($("queue-chart"), {
    now,
    span,
    peak,
    series: [
      { cls: "series-progress", points: depth.map((s) => [s.t, s.in_progress]) },
      { cls: "series-queue", points: depth.map((s) => [s.t, s.in_queue]) },
    ],
  });
  const last = live || samples[samples.length - 1] || { in_queue: 0, in_progress: 0 };
  $("queue-caption").replaceChildren(
    h("strong", {}, "Queue depth. "),
    "Now: ",
    h("span", { class: "key key-queue" }, `waiting: ${last.in_queue}`),
    " · ",
    h("span", { class: "key key-progress" }, `in progress: ${last.in_progress}`),
    ` · peak ${peak}${peak > 0 ? " waiting + in progress (dotted line)" : ""} over the last ${ago(span)}, ${every}.`,
  );

  // Latency of completed requests (submit to completion): p50 and p95 per sample.
  const done = samples.filter((s) => s.completed > 0);
  const top = Math.max(0, ...done.map((s) => s.latency_p95_ms));
  drawChart($("latency-chart"), {
    now,
    span,
    peak: top,
    series: [
      { cls: "series-p95", points: samples.map((s) => [s.t, s.latency_p95_ms]) },
      { cls: "series-p50", points: samples.map((s) => [s.t, s.latency_p50_ms]) },
    ],
  });
  const latest = done[done.length - 1];
  $("latency-caption").replaceChildren(
    h("strong", {}, "Latency (submit to completion). "),
    ...(latest
      ? [
          `Latest, ${latest.completed} request(s) completed in the ${hist.interval_s} s to ${clock(latest.t)}: `,
          h("span", { class: "key key-p50" }, `p50 ${ms(latest.latency_p50_ms)}`),
          " · ",
          h("span", { class: "key key-p95" }, `p95 ${ms(latest.latency_p95_ms)}`),
          ` · highest p95 ${ms(top)} (dotted line) over the last ${ago(span)}, ${every}.`,
        ]
      : [`No request completed in the last ${ago(span)}; ${every}.`]),
  );
}

// ---------------------------------------------------------------- logs

async function loadLogs(id, focus) {
  const sel = state.selected;
  if (!sel) return;
  state.logsFor = id;
  try {
    const r = await api("GET", dashPath(sel, `/requests/${q(id)}/logs`));
    if (state.logsFor !== id) return;
    $("logs-section").hidden = false;
    $("logs-section").dataset.request = id;
    $("logs-h").textContent = `Logs of request ${id}`;
    $("logs-meta").textContent = `Status ${r.status}${r.runner_id ? ` · runner ${short(r.runner_id)}` : ""} · ${r.logs.length} line(s)`;
    const json = JSON.stringify(r.logs);
    if (state.rendered.get("logs") !== json || focus) {
      state.rendered.set("logs", json);
      $("logs").replaceChildren(
        ...(r.logs.length
          ? r.logs.map((l) => h("li", { class: l.level === "STDERR" || l.level === "ERROR" ? "err" : "" }, h("time", { datetime: l.timestamp }, when(l.timestamp)), ` ${l.level} `, h("span", { class: "msg" }, l.message)))
          : [h("li", { class: "empty" }, "No lines.")]),
      );
    }
    if (focus) $("logs-h").focus();
  } catch (err) {
    fail(`Could not load the logs of ${id}: ${err.message}`);
  }
}

// ---------------------------------------------------------------- actions (the same calls falctl makes)

/** Asks for confirmation with one choice among `options`; resolves to the chosen value or null. */
function confirmChoice(title, text, legend, options) {
  const dialog = $("confirm");
  $("confirm-h").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-legend").textContent = legend;
  $("confirm-choices").replaceChildren(
    ...options.map((o, i) =>
      h(
        "div",
        { class: "choice" },
        h("input", { type: "radio", name: "confirm-choice", id: `choice-${o.value}`, value: o.value, checked: i === 0, "aria-describedby": `choice-${o.value}-hint` }),
        h("label", { for: `choice-${o.value}` }, o.label),
        h("p", { class: "hint", id: `choice-${o.value}-hint` }, o.hint),
      ),
    ),
  );
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const done = (value) => {
      $("confirm-ok").onclick = null;
      $("confirm-cancel").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(value);
    };
    $("confirm-ok").onclick = () => done(dialog.querySelector("input[name=confirm-choice]:checked")?.value ?? null);
    $("confirm-cancel").onclick = () => done(null);
    dialog.onclose = () => done(null); // Escape
    dialog.showModal();
    dialog.querySelector("input[name=confirm-choice]:checked")?.focus();
  });
}

async function confirmSwitch(rev, verb) {
  const sel = state.selected;
  const strategy = await confirmChoice(
    `${verb} ${sel.name} to revision ${short(rev.id)}?`,
    `The alias ${state.app ? state.app.endpoint_id : sel.name} moves from revision ${short(state.app && state.app.revision)} to ${short(rev.id)}${rev.message ? ` (“${rev.message}”)` : ""}.`,
    "Strategy",
    [
      { value: "rolling", label: "Rolling", hint: "Start a runner on the revision and move the alias once it is healthy; nothing moves if it fails." },
      { value: "recreate", label: "Recreate", hint: "Move the alias now; the next request may cold-start." },
    ],
  );
  if (!strategy) return say("Cancelled.");
  say(`Switching ${sel.name} to ${short(rev.id)} (${strategy})…`);
  try {
    const app = await api("PUT", appPath(sel), { revision_id: rev.id, strategy });
    say(`${sel.name} now serves revision ${short(app.revision)} (${strategy}).`);
  } catch (err) {
    fail(`${verb} failed: ${err.message}`);
  }
  await poll();
}

async function confirmRollout() {
  const sel = state.selected;
  if (!sel) return;
  const mode = await confirmChoice(
    `Roll out ${sel.name}?`,
    "Stops every runner of the app without changing revision; replacements start on demand. Use it after changing secrets.",
    "How",
    [
      { value: "graceful", label: "Graceful", hint: "Runners stop taking work and finish what they hold (5 s grace)." },
      { value: "force", label: "Force", hint: "Runners are killed at once; queued requests they held are retried, sync calls fail." },
    ],
  );
  if (!mode) return say("Cancelled.");
  say(`Rolling out ${sel.name} (${mode})…`);
  try {
    const r = await api("POST", appPath(sel, "/rollout"), { force: mode === "force" });
    say(`Rollout of ${sel.name}: ${r.restarted} runner(s) restarted${r.force ? " (forced)" : ""}.`);
  } catch (err) {
    fail(`Rollout failed: ${err.message}`);
  }
  await poll();
}

// ---------------------------------------------------------------- start

$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const value = $("key").value.trim();
  $("key").value = "";
  if (!value) return fail("Enter a key.");
  sessionStorage.setItem(KEY_STORAGE, value);
  void signIn();
});
$("sign-out").addEventListener("click", () => signOut());
$("rollout-btn").addEventListener("click", () => void confirmRollout());
$("logs-close").addEventListener("click", () => {
  state.logsFor = null;
  $("logs-section").hidden = true;
  document.querySelector(`#requests [data-focus]`)?.focus();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) void poll();
});

if (key()) void signIn();
else signOut("");
