// The onceflow dashboard: one page, no libraries. It talks only to the
// node's documented HTTP API (docs/http-api.md), with the API key the user
// gives kept in sessionStorage (this tab only).
"use strict";

(function () {
  const KEY = "onceflow.key";
  const state = {
    roles: [],
    keys: false,
    page: "",
    nav: 0,
    timers: [],
    stats: { samples: [], last: 0 },
  };

  // -- DOM helpers -----------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "onclick" || k === "onchange" || k === "onsubmit"
          || k === "oninput") {
        el.addEventListener(k.slice(2), v);
      } else if (k === "text") {
        el.textContent = v;
      } else {
        el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function svg(tag, attrs) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }

  const main = () => document.getElementById("main");

  // Puts the page's content in place (arrays flattened, nulls left out),
  // unless the user went elsewhere meanwhile: each navigation has a
  // number, and a page shows only while its number is the current one.
  function showAt(nav, ...children) {
    if (nav !== state.nav) return;
    main().replaceChildren(...children.flat(2).filter(
      (c) => c !== null && c !== undefined && c !== false));
  }

  function fmt(n) {
    if (n === null || n === undefined) return "–";
    if (typeof n !== "number") return String(n);
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }

  function time(ms) {
    if (!ms) return "–";
    const d = new Date(ms);
    return d.toLocaleString(undefined, { hour12: false }) + "."
      + String(d.getMilliseconds()).padStart(3, "0");
  }

  function isAdmin() {
    return state.roles.includes("admin");
  }

  // An action's answer: a clear message, the server's error text included.
  function say(text, ok) {
    const m = document.getElementById("message");
    state.said = Date.now();
    m.hidden = false;
    m.textContent = text;
    m.className = ok ? "ok" : "bad";
  }

  // -- the API ---------------------------------------------------------------

  async function api(method, path, body) {
    const headers = {};
    const key = sessionStorage.getItem(KEY);
    if (key) headers["Authorization"] = "Bearer " + key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let r;
    try {
      r = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      return { status: 0, json: { error: "the node did not answer: " + e } };
    }
    let doc = null;
    try {
      doc = await r.json();
    } catch (e) {
      doc = { error: "answer was not JSON (HTTP " + r.status + ")" };
    }
    if (r.status === 401) askKey(doc && doc.error);
    return { status: r.status, json: doc };
  }

  function errorText(r) {
    return (r.json && r.json.error) || "HTTP " + r.status;
  }

  // -- the key ---------------------------------------------------------------

  function askKey(why) {
    const box = document.getElementById("keybox");
    stopTimers(); // no polling until there is a key again
    if (!box.hidden) return; // already asking: keep what it says
    document.getElementById("keyerror").textContent =
      sessionStorage.getItem(KEY) ? why || "the key was refused" : "";
    sessionStorage.removeItem(KEY);
    box.hidden = false;
    document.getElementById("keyinput").focus();
  }

  async function whoami() {
    const r = await api("GET", "/auth");
    if (r.status !== 200) {
      say("The node's API did not answer: " + errorText(r), false);
      return false;
    }
    if (r.json.keys && !(r.json.roles || []).length) {
      askKey(r.json.error);
      return false;
    }
    state.roles = r.json.roles || [];
    state.keys = !!r.json.keys;
    document.getElementById("who").textContent = state.keys
      ? "key " + r.json.name + " (" + state.roles.join(", ") + ")"
      : "no API keys";
    document.getElementById("forget").hidden = !state.keys;
    document.body.classList.toggle("admin", isAdmin());
    return true;
  }

  // -- pages -----------------------------------------------------------------

  const pages = { overview, groups, dlq, events, cluster };

  function stopTimers() {
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
  }

  // A timer of the current navigation (cleared by the next one).
  function every(nav, ms, f) {
    if (nav !== state.nav) return;
    let busy = false;
    state.timers.push(setInterval(async () => {
      if (busy || nav !== state.nav) return; // one call at a time
      busy = true;
      try {
        await f();
      } finally {
        busy = false;
      }
    }, ms));
  }

  async function route() {
    stopTimers();
    state.nav = (state.nav || 0) + 1;
    const nav = state.nav;
    const path = location.hash.replace(/^#\/?/, "").split("?")[0];
    const [name, ...rest] = (path || "overview").split("/");
    const page = pages[name] ? name : "overview";
    state.page = page;
    // A message stays for the page an action led to, not for later ones.
    if (Date.now() - (state.said || 0) > 3000)
      document.getElementById("message").hidden = true;
    for (const a of document.querySelectorAll("nav a"))
      a.classList.toggle("active", a.dataset.page === page);
    const t0 = performance.now();
    showAt(nav, h("p", { class: "muted", text: "Loading…" }));
    try {
      await pages[page](rest.map(decodeURIComponent), nav);
    } catch (e) {
      showAt(nav, h("p", { class: "error", text: "This page failed: " + e }));
    }
    if (nav !== state.nav) return; // another navigation took over
    // How long the page took to show (the browser test reads it).
    document.body.dataset.page = page;
    document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  }

  // -- overview --------------------------------------------------------------

  const SERIES = [
    ["accepted", "--c1"], ["processed", "--c2"], ["retried", "--c5"],
    ["failed", "--c4"], ["dead", "--c3"],
  ];

  function rates(samples, field, span) {
    // Per second over the last `span` samples.
    if (samples.length < 2) return null;
    const a = samples[Math.max(0, samples.length - 1 - span)];
    // (fewer samples than `span` at first: over those there are)
    const b = samples[samples.length - 1];
    const dt = (b.at - a.at) / 1000;
    return dt > 0 ? (b[field] - a[field]) / dt : null;
  }

  async function loadStats() {
    const r = await api("GET", "/stats?since=" + state.stats.last);
    if (r.status !== 200) return r;
    document.getElementById("node").textContent = "node " + r.json.node;
    const xs = state.stats.samples;
    for (const s of r.json.samples) xs.push(s);
    while (xs.length > 600) xs.shift();
    if (xs.length) state.stats.last = xs[xs.length - 1].at;
    return r;
  }

  async function overview(args, nav) {
    const r = await loadStats();
    if (r.status !== 200) {
      showAt(nav, h("p", { class: "error",
                                      text: "Stats: " + errorText(r) }));
      return;
    }
    const cards = h("div", { class: "cards", id: "totals" });
    const rateChart = svg("svg", { class: "chart", id: "chart-rates",
                                   viewBox: "0 0 600 160",
                                   preserveAspectRatio: "none" });
    const backlogChart = svg("svg", { class: "chart", id: "chart-backlog",
                                      viewBox: "0 0 600 160",
                                      preserveAspectRatio: "none" });
    const backlogTable = h("div", { class: "table-wrap", id: "backlog" });
    const legend = h("div", { class: "legend" },
      SERIES.map(([name, color]) => {
        const s = h("span", { text: name + "/s" });
        s.style.setProperty("--swatch", "var(" + color + ")");
        return s;
      }));
    const backlogLegend = h("div", { class: "legend", id: "backlog-legend" });
    showAt(nav, 
      h("h1", { text: "Overview" }),
      cards,
      h("div", { class: "charts" },
        h("div", { class: "card" }, h("h2", { text: "Events per second" }),
          rateChart, legend),
        h("div", { class: "card" }, h("h2", { text: "Backlog per group" }),
          backlogChart, backlogLegend)),
      h("h2", { text: "Groups" }), backlogTable,
      h("p", { class: "muted",
               text: "Counts of this node since it started, sampled every "
                 + "second for the last ten minutes (GET /stats)." }));
    const draw = () => {
      const xs = state.stats.samples;
      const last = xs[xs.length - 1] || {};
      const attempts = (last.processed || 0) + (last.failed || 0);
      cards.replaceChildren(
        ...SERIES.map(([name]) => h("div", { class: "card stat",
                                              id: "stat-" + name },
          h("div", { class: "muted", text: name }),
          h("div", { class: "value", id: "total-" + name,
                     text: String(last[name] || 0) }),
          h("div", { class: "rate",
                     text: fmt(rates(xs, name, 5)) + "/s" }))),
        h("div", { class: "card stat", id: "stat-success" },
          h("div", { class: "muted", text: "success rate" }),
          h("div", { class: "value", id: "success-rate",
                     text: attempts ? (100 * (last.processed || 0)
                                       / attempts).toFixed(1) + "%" : "–" }),
          h("div", { class: "rate", text: "effects / attempts" })),
        h("div", { class: "card stat", id: "stat-duplicates" },
          h("div", { class: "muted", text: "duplicates" }),
          h("div", { class: "value", id: "total-duplicates",
                     text: String(last.duplicates || 0) }),
          h("div", { class: "rate",
                     text: fmt(rates(xs, "duplicates", 5)) + "/s" })));
      drawRates(rateChart, xs);
      drawBacklog(backlogChart, backlogLegend, xs);
      const names = Object.keys(last.groups || {}).sort();
      backlogTable.replaceChildren(h("table", {},
        h("tr", {}, ["group", "backlog", "in flight", "processed",
                     "retried", "dead", "processed/s"].map(
          (c, i) => h("th", { class: i ? "num" : "", text: c }))),
        names.map((g) => {
          const x = last.groups[g];
          const rate = rates(xs.map((s) => ({ at: s.at,
            v: (s.groups[g] || {}).processed || 0 })), "v", 5);
          return h("tr", { "data-group": g },
            h("td", { text: g }),
            h("td", { class: "num backlog", text: fmt(x.backlog) }),
            h("td", { class: "num", text: fmt(x.inFlight) }),
            h("td", { class: "num", text: fmt(x.processed) }),
            h("td", { class: "num", text: fmt(x.retried) }),
            h("td", { class: "num", text: fmt(x.dead) }),
            h("td", { class: "num", text: fmt(rate) }));
        })));
      rateChart.dataset.samples = String(xs.length);
    };
    draw();
    every(nav, 1000, async () => {
      if (state.page !== "overview") return;
      const r2 = await loadStats();
      if (r2.status === 200) draw();
    });
  }

  function chartFrame(el, max, span) {
    el.replaceChildren();
    el.append(svg("line", { class: "axis", x1: 40, y1: 150, x2: 600, y2: 150 }));
    el.append(svg("line", { class: "axis", x1: 40, y1: 10, x2: 40, y2: 150 }));
    const top = svg("text", { x: 2, y: 14 });
    top.textContent = fmt(max);
    el.append(top);
    const bottom = svg("text", { x: 2, y: 150 });
    bottom.textContent = "0";
    el.append(bottom);
    const left = svg("text", { x: 44, y: 160 });
    left.textContent = "-" + Math.round(span / 1000) + "s";
    el.append(left);
  }

  function line(el, points, max, t0, span, color) {
    if (points.length < 2) return;
    const x = (t) => 40 + 560 * (t - t0) / span;
    const y = (v) => 150 - 140 * (max > 0 ? v / max : 0);
    const d = points.map((p, i) => (i ? "L" : "M") + x(p.at).toFixed(1)
                                   + "," + y(p.v).toFixed(1)).join(" ");
    const path = svg("path", { d });
    path.style.stroke = "var(" + color + ")";
    el.append(path);
  }

  function drawRates(el, xs) {
    const series = SERIES.map(([name, color]) => {
      const pts = [];
      for (let i = 1; i < xs.length; ++i) {
        const dt = (xs[i].at - xs[i - 1].at) / 1000;
        if (dt > 0)
          pts.push({ at: xs[i].at,
                     v: Math.max(0, (xs[i][name] - xs[i - 1][name]) / dt) });
      }
      return { pts, color };
    });
    const max = Math.max(1, ...series.flatMap((s) => s.pts.map((p) => p.v)));
    const t0 = xs.length ? xs[0].at : 0;
    const span = xs.length ? Math.max(1000, xs[xs.length - 1].at - t0) : 1000;
    chartFrame(el, max, span);
    for (const s of series) line(el, s.pts, max, t0, span, s.color);
  }

  function drawBacklog(el, legend, xs) {
    const last = xs[xs.length - 1] || { groups: {} };
    const names = Object.keys(last.groups || {}).sort();
    const colors = ["--c1", "--c2", "--c4", "--c5", "--c3"];
    const series = names.map((g, i) => ({
      g, color: colors[i % colors.length],
      pts: xs.filter((s) => s.groups[g] && s.groups[g].backlog !== null)
        .map((s) => ({ at: s.at, v: s.groups[g].backlog })),
    }));
    const max = Math.max(1, ...series.flatMap((s) => s.pts.map((p) => p.v)));
    const t0 = xs.length ? xs[0].at : 0;
    const span = xs.length ? Math.max(1000, xs[xs.length - 1].at - t0) : 1000;
    chartFrame(el, max, span);
    for (const s of series) line(el, s.pts, max, t0, span, s.color);
    legend.replaceChildren(...series.map((s) => {
      const x = h("span", { text: s.g });
      x.style.setProperty("--swatch", "var(" + s.color + ")");
      return x;
    }));
  }

  // -- groups ----------------------------------------------------------------

  async function groups(args, nav) {
    const [r, c] = await Promise.all([api("GET", "/groups?counts=true"),
                                      api("GET", "/cluster")]);
    if (r.status !== 200) {
      showAt(nav, h("p", { class: "error",
                                      text: "Groups: " + errorText(r) }));
      return;
    }
    // Listeners per node from the cluster's actors.
    const per = {};
    if (c.status === 200)
      for (const a of c.json.actors || [])
        if (a.kind === "listener" && a.group) {
          per[a.group] = per[a.group] || {};
          per[a.group][a.node] = (per[a.group][a.node] || 0) + 1;
        }
    const rows = r.json.groups.map((g) => {
      const nodes = per[g.name] ? Object.entries(per[g.name])
        .map(([n, k]) => n + ": " + k).join(", ") : String(g.listeners);
      const act = isAdmin()
        ? h("button", { class: "admin-action " + (g.paused ? "primary" : ""),
                        id: (g.paused ? "resume-" : "pause-") + g.name,
                        onclick: () => pause(g.name, !g.paused),
                        text: g.paused ? "Resume" : "Pause" })
        : null;
      return h("tr", { "data-group": g.name },
        h("td", { text: g.name }),
        h("td", {}, h("span", { class: "badge " + (g.paused ? "paused" : "up"),
                                text: g.paused ? "paused" : "running" })),
        h("td", { class: "num", text: fmt(g.depth) }),
        h("td", { class: "num", text: fmt(g.inFlight) }),
        h("td", { class: "num", text: fmt(g.retries) }),
        h("td", { class: "num dlq", text: fmt(g.dlq) }),
        h("td", { class: "num", text: fmt(g.ratePerSecond) }),
        h("td", { text: nodes }),
        h("td", { text: g.handler }),
        h("td", {}, act));
    });
    showAt(nav, 
      h("h1", { text: "Groups" }),
      h("div", { class: "table-wrap" }, h("table", { id: "groups" },
        h("tr", {}, ["group", "state", "backlog", "in flight", "retries",
                     "DLQ", "settled/s", "listeners per node", "handler", ""]
          .map((x, i) => h("th", { class: i >= 2 && i <= 6 ? "num" : "",
                                   text: x }))),
        rows)),
      h("p", { class: "muted", text: "Backlog: events not settled yet. "
        + "Retries: waiting in the retry schedule. Pausing is kept in the "
        + "store (every node sharing it)." }));
    // Every 3 s; the DLQ sizes and retries (store calls per group) every
    // 15 s.
    let round = 0;
    every(nav, 3000, async () => {
      if (state.page === "groups" && !document.querySelector("button:focus"))
        await refreshGroups(++round % 5 === 0);
    });
  }

  async function refreshGroups(counts) {
    const r = await api("GET", "/groups" + (counts ? "?counts=true" : ""));
    if (r.status !== 200 || state.page !== "groups") return;
    for (const g of r.json.groups) {
      const tr = document.querySelector("tr[data-group='" + CSS.escape(g.name)
                                        + "']");
      if (!tr) continue;
      const cells = tr.children;
      cells[2].textContent = fmt(g.depth);
      cells[3].textContent = fmt(g.inFlight);
      if (counts) {
        cells[4].textContent = fmt(g.retries);
        cells[5].textContent = fmt(g.dlq);
      }
      cells[6].textContent = fmt(g.ratePerSecond);
    }
  }

  async function pause(name, on) {
    const r = await api("POST", "/groups/" + encodeURIComponent(name)
                                + (on ? "/pause" : "/resume"));
    if (r.status === 200)
      say("Group " + name + (r.json.paused ? " paused." : " resumed."), true);
    else
      say("Could not " + (on ? "pause " : "resume ") + name + ": "
          + errorText(r), false);
    await route();
  }

  // -- dead letters ----------------------------------------------------------

  async function dlq(args, nav) {
    if (args[0]) return dlqEntry(args[0], nav);
    const params = new URLSearchParams(location.hash.split("?")[1] || "");
    const group = params.get("group") || "";
    const type = params.get("type") || "";
    const reason = params.get("reason") || "";
    const g = await api("GET", "/groups?counts=true");
    const names = g.status === 200 ? g.json.groups.map((x) => x.name) : [];
    // What Replay all and Purge act on: the whole group, or every group
    // (the type and reason filters narrow the list only).
    const inDlq = g.status === 200
      ? g.json.groups.filter((x) => !group || x.name === group)
        .reduce((n, x) => n + (x.dlq || 0), 0) : null;
    const q = new URLSearchParams({ limit: "200" });
    if (group) q.set("group", group);
    const r = await api("GET", "/failed-events?" + q);
    if (r.status !== 200) {
      showAt(nav, h("p", { class: "error",
                                      text: "Dead letters: " + errorText(r) }));
      return;
    }
    const shown = r.json.events.filter((e) =>
      (!type || e.type === type) && (!reason || e.reason === reason));
    const filter = (k, v) => {
      const p = new URLSearchParams({ group, type, reason });
      p.set(k, v);
      for (const [x, y] of [...p.entries()]) if (!y) p.delete(x);
      location.hash = "#/dlq?" + p;
    };
    const types = [...new Set(r.json.events.map((e) => e.type))].sort();
    const select = (id, value, options, key) =>
      h("select", { id, onchange: (ev) => filter(key, ev.target.value) },
        h("option", { value: "", text: "any " + key }),
        options.map((o) => h("option", { value: o, text: o,
                                         selected: o === value })));
    const replayAll = isAdmin() ? h("span", { class: "row" },
      h("label", { text: "rate " },
        h("input", { id: "replay-rate", type: "number", min: "0.1",
                     step: "any", value: "100", size: "6" })),
      h("button", { id: "replay-all", class: "primary admin-action",
                    onclick: () => replayAllAt(group),
                    text: "Replay all " + fmt(inDlq)
                      + (group ? " of " + group : "") }),
      h("progress", { id: "replay-progress", max: "1", value: "0",
                      hidden: true }),
      h("span", { id: "replay-status", class: "muted" }),
      h("button", { id: "purge", class: "danger admin-action",
                    onclick: () => confirmPurge(group, inDlq),
                    text: "Purge…" }),
      h("span", { id: "purge-confirm" })) : null;
    showAt(nav, 
      h("h1", { text: "Dead letters" }),
      h("div", { class: "row" },
        select("filter-group", group, names, "group"),
        select("filter-type", type, types, "type"),
        select("filter-reason", reason,
               ["retries_exhausted", "permanent_error", "crash_loop"],
               "reason"),
        h("span", { class: "muted", id: "dlq-count",
                    text: shown.length + " shown"
                      + (r.json.next ? " (more: narrow by group)" : "") })),
      replayAll,
      h("div", { class: "table-wrap" }, h("table", { id: "dlq" },
        h("tr", {}, ["event", "group", "type", "reason", "error", "died",
                     "attempts"].map((x) => h("th", { text: x }))),
        shown.map((e) => h("tr", {
          class: "clickable", "data-event": e.eventId,
          onclick: () => { location.hash = "#/dlq/"
                             + encodeURIComponent(e.eventId); } },
          h("td", { text: e.eventId }), h("td", { text: e.group }),
          h("td", { text: e.type }),
          h("td", {}, h("span", { class: "badge dead", text: e.reason })),
          h("td", { text: (e.error || "").slice(0, 80) }),
          h("td", { text: time(e.deadAt) }),
          h("td", { class: "num", text: String(
            Array.isArray(e.attempts) ? e.attempts.length : e.attempts) })))),
      ));
    await replayProgress(nav);
  }

  async function dlqEntry(id, nav) {
    const r = await api("GET", "/failed-events/" + encodeURIComponent(id));
    const back = h("a", { href: "#/dlq", text: "← dead letters" });
    if (r.status !== 200) {
      showAt(nav, back, h("p", { class: "error",
        text: "Dead letter " + id + ": " + errorText(r) }));
      return;
    }
    showAt(nav, 
      back, h("h1", { text: "Dead letter " + id }),
      r.json.entries.map((e) => h("div", { class: "card entry",
                                           "data-group": e.group },
        h("h2", { text: "group " + e.group }),
        h("p", {}, h("span", { class: "badge dead", text: e.reason }), " ",
          e.error, h("span", { class: "muted", text: " — " + time(e.deadAt) })),
        h("div", { class: "table-wrap" }, h("table", { class: "attempts" },
          h("tr", {}, ["#", "at", "node", "listener", "epoch", "outcome",
                       "error"].map((x) => h("th", { text: x }))),
          (e.attempts || []).map((a) => h("tr", {},
            h("td", { class: "num", text: String(a.attempt) }),
            h("td", { text: time(a.at) }), h("td", { text: a.node }),
            h("td", { text: a.listener }),
            h("td", { class: "num", text: String(a.epoch) }),
            h("td", {}, h("span", { class: "badge " + a.outcome,
                                    text: a.outcome })),
            h("td", { text: a.error }))))),
        isAdmin() ? h("div", { class: "row" },
          h("button", { class: "primary admin-action",
                        id: "replay-" + e.group,
                        onclick: () => replayOne(id, e.group),
                        text: "Replay" }),
          h("button", { class: "danger admin-action", id: "delete-" + e.group,
                        onclick: () => deleteOne(id),
                        text: "Delete" })) : null)),
      h("p", {}, h("a", { href: "#/events/" + encodeURIComponent(id),
                          text: "The event's trace →" })));
  }

  async function replayOne(id, group) {
    const r = await api("POST", "/failed-events/" + encodeURIComponent(id)
                                + "/replay?group=" + encodeURIComponent(group));
    if (r.status === 200)
      say("Replayed " + id + " (" + group + "): back in the retry schedule.",
          true);
    else
      say("Replay of " + id + " failed: " + errorText(r), false);
    location.hash = "#/dlq";
  }

  async function deleteOne(id) {
    const r = await api("DELETE", "/failed-events/" + encodeURIComponent(id));
    if (r.status === 200) say("Deleted " + id + " from the DLQ.", true);
    else say("Delete of " + id + " failed: " + errorText(r), false);
    location.hash = "#/dlq";
  }

  async function replayAllAt(group) {
    const rate = Number(document.getElementById("replay-rate").value);
    const body = { rate };
    if (group) body.group = group;
    const r = await api("POST", "/failed-events/replay", body);
    if (r.status === 202) {
      say("Replaying " + r.json.replaying + " dead letters at " + r.json.rate
          + "/s.", true);
      await replayProgress(state.nav);
    } else {
      say("Replay failed: " + errorText(r), false);
    }
  }

  async function replayProgress(nav) {
    if (!isAdmin()) return;
    const tick = async () => {
      const r = await api("GET", "/failed-events/replay");
      const bar = document.getElementById("replay-progress");
      const status = document.getElementById("replay-status");
      if (!bar || r.status !== 200) return false;
      bar.hidden = !r.json.total;
      bar.max = Math.max(1, r.json.total || 1);
      bar.value = r.json.replayed || 0;
      status.textContent = r.json.total
        ? (r.json.active ? "replaying: " : "replayed: ") + r.json.replayed
          + " of " + r.json.total : "";
      return r.json.active;
    };
    if (nav === state.nav && await tick()) {
      const t = setInterval(async () => {
        if (nav !== state.nav || !(await tick())) clearInterval(t);
      }, 500);
      state.timers.push(t);
    }
  }

  function confirmPurge(group, n) {
    const box = document.getElementById("purge-confirm");
    box.replaceChildren(
      h("span", { text: "Purge " + (group ? "the dead letters of " + group
                                          : "every dead letter of every group")
                    + " (" + fmt(n) + ", whatever the type and reason "
                    + "filters show)? They never run again. " }),
      h("button", { id: "purge-yes", class: "danger",
                    onclick: () => purge(group), text: "Yes, purge" }),
      h("button", { id: "purge-no", onclick: () => box.replaceChildren(),
                    text: "Cancel" }));
  }

  async function purge(group) {
    const r = await api("DELETE", "/failed-events"
                        + (group ? "?group=" + encodeURIComponent(group) : ""));
    if (r.status === 200) say("Purged " + r.json.purged + " dead letters.", true);
    else say("Purge failed: " + errorText(r), false);
    await route();
  }

  // -- events ----------------------------------------------------------------

  async function events(args, nav) {
    const form = h("form", { class: "row", id: "lookup",
                             onsubmit: (ev) => {
                               ev.preventDefault();
                               const id = document.getElementById("event-id")
                                 .value.trim();
                               if (id) location.hash = "#/events/"
                                 + encodeURIComponent(id);
                             } },
      h("input", { id: "event-id", placeholder: "event id", size: "36",
                   value: args[0] || "" }),
      h("button", { class: "primary", id: "lookup-go", type: "submit",
                    text: "Trace" }));
    const params = new URLSearchParams(location.hash.split("?")[1] || "");
    const status = params.get("status") || "";
    const browse = h("div", { class: "row" },
      h("span", { text: "Browse: " }),
      ["processed", "retrying", "dead", "scheduled", "cancelled"].map((s) =>
        h("a", { href: "#/events?status=" + s, id: "browse-" + s,
                 class: "badge " + s, text: s })));
    const body = [h("h1", { text: "Events" }), form, browse];
    if (args[0]) {
      body.push(await trace(args[0]));
    } else if (status) {
      const r = await api("GET", "/events?status=" + encodeURIComponent(status)
                                 + "&limit=100");
      body.push(r.status !== 200
        ? h("p", { class: "error", text: "Events: " + errorText(r) })
        : h("div", { class: "table-wrap" }, h("table", { id: "event-list" },
          h("tr", {}, ["event", "group", "type", "seq", "status"]
            .map((x) => h("th", { text: x }))),
          r.json.events.map((e) => h("tr", {
            class: "clickable", "data-event": e.eventId,
            onclick: () => { location.hash = "#/events/"
                               + encodeURIComponent(e.eventId); } },
            h("td", { text: e.eventId }), h("td", { text: e.group }),
            h("td", { text: e.type }),
            h("td", { class: "num", text: String(e.seq) }),
            h("td", {}, h("span", { class: "badge " + e.status,
                                    text: e.status })))))));
    }
    showAt(nav, ...body);
  }

  async function trace(id) {
    const r = await api("GET", "/events/" + encodeURIComponent(id));
    if (r.status !== 200)
      return h("p", { class: "error", id: "trace-error",
                      text: "Event " + id + ": " + errorText(r) });
    const e = r.json;
    // The DLQ's verdicts of the groups it died in (reason, error, when).
    const verdicts = {};
    if (e.groups.some((g) => g.status === "dead")) {
      const f = await api("GET", "/failed-events/" + encodeURIComponent(id));
      if (f.status === 200)
        for (const x of f.json.entries) verdicts[x.group] = x;
    }
    const items = [h("li", { class: "note" },
      h("strong", { text: time(e.createdAt) }), " accepted",
      e.acceptedBy ? " on node " + e.acceptedBy : "",
      " (seq " + e.seq + ", type " + e.type + ", priority " + e.priority + ")")];
    if (e.duplicates && e.duplicates.count > 0)
      items.push(h("li", { class: "note" },
        h("strong", { text: time(e.duplicates.lastAt) }), " "
        + e.duplicates.count + " duplicate submission(s), last answered by "
        + e.duplicates.lastNode));
    const groupsEl = e.groups.map((g) => h("div", { class: "card group",
                                                    "data-group": g.group },
      h("h2", {}, "group " + g.group + " ",
        h("span", { class: "badge " + g.status, text: g.status })),
      h("ol", { class: "timeline" },
        g.attempts.map((a) => h("li", {
          class: "attempt " + (a.outcome === "success" ? "success" : "failure"),
          "data-attempt": a.attempt },
          h("strong", { text: time(a.at) }),
          " attempt " + a.attempt + " on node " + a.node + ", listener "
          + a.listener + ", epoch " + a.epoch + ": ",
          h("span", { class: "badge " + a.outcome, text: a.outcome }),
          a.error ? " " + a.error : "")),
        g.nextAttemptAt ? h("li", { class: "note" },
          h("strong", { text: time(g.nextAttemptAt) }), " next attempt due")
          : null,
        g.effect ? h("li", { class: "success effect" },
          h("strong", { text: time(g.effect.at) }),
          " effect committed (attempt " + g.effect.attempt + ", epoch "
          + g.effect.epoch + "), " + fmt(g.effect.at - e.createdAt)
          + " ms after acceptance") : null,
        g.status === "dead" ? h("li", { class: "failure dlq-verdict" },
          verdicts[g.group]
            ? [h("strong", { text: time(verdicts[g.group].deadAt) }),
               " dead-lettered: ", h("span", { class: "badge dead",
                                              text: verdicts[g.group].reason }),
               " " + verdicts[g.group].error + " "]
            : "in the DLQ: ",
          h("a", { href: "#/dlq/" + encodeURIComponent(e.eventId),
                   text: "its dead letter" })) : null)));
    return h("div", { id: "trace" },
      h("h2", {}, "Event " + e.eventId + " ",
        h("span", { class: "badge " + e.status, text: e.status })),
      h("ol", { class: "timeline" }, items), groupsEl);
  }

  // -- cluster ---------------------------------------------------------------

  function mailboxOf(status) {
    // The first "...mailbox" number of an actor's status.
    let found = null;
    const walk = (x) => {
      if (found !== null || !x || typeof x !== "object") return;
      for (const [k, v] of Object.entries(x)) {
        if (k.endsWith("mailbox") && typeof v === "number") {
          found = v;
          return;
        }
        walk(v);
      }
    };
    walk(status);
    return found;
  }

  function stateOf(a) {
    if (a.error) return "unanswered";
    const s = JSON.stringify(a.status || {});
    if (/"draining":true/.test(s)) return "draining";
    if (/"paused":true/.test(s)) return "paused";
    const m = s.match(/"in-flight":(\d+)/);
    return m && Number(m[1]) > 0 ? "busy" : "idle";
  }

  async function cluster(args, nav) {
    const r = await api("GET", "/cluster");
    if (r.status !== 200) {
      showAt(nav, h("p", { class: "error",
                                      text: "Cluster: " + errorText(r) }));
      return;
    }
    const c = r.json;
    showAt(nav, 
      h("h1", { text: "Cluster" }),
      h("p", { class: "muted", text: "Seen from node " + c.self + " ("
               + c.schema + ")" }),
      h("div", { class: "table-wrap" }, h("table", { id: "nodes" },
        h("tr", {}, ["node", "state", "role", "address", "since", "rtt",
                     "version", "error"].map((x) => h("th", { text: x }))),
        c.nodes.map((n) => h("tr", { "data-node": n.name },
          h("td", { text: n.name }),
          h("td", {}, h("span", { class: "badge " + (n.up ? "up" : "down"),
                                  text: n.up ? "up" : "down" })),
          h("td", { text: n.role }), h("td", { text: n.address }),
          h("td", { text: time(n.since) }),
          h("td", { class: "num", text: n.rttMs >= 0 ? n.rttMs + " ms" : "–" }),
          h("td", { text: n.version }), h("td", { text: n.error }))))),
      h("h2", { text: "Actors" }),
      h("div", { class: "table-wrap" }, h("table", { id: "actors" },
        h("tr", {}, ["node", "id", "kind", "group", "state", "mailbox"]
          .map((x, i) => h("th", { class: i === 5 ? "num" : "", text: x }))),
        (c.actors || []).map((a) => h("tr", { "data-kind": a.kind },
          h("td", { text: a.node }), h("td", { text: a.id }),
          h("td", { text: a.kind }), h("td", { text: a.group || "" }),
          h("td", { text: stateOf(a) }),
          h("td", { class: "num", text: fmt(mailboxOf(a.status)) }))))));
  }

  // -- start -----------------------------------------------------------------

  document.getElementById("keyform").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("keyinput").value);
    if (await whoami()) {
      document.getElementById("keybox").hidden = true;
      document.getElementById("keyinput").value = "";
      await route();
    }
  });
  document.getElementById("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  window.addEventListener("hashchange", route);
  whoami().then((ok) => {
    if (ok) route();
  });
})();
