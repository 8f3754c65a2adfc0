// peace serve: the web page. Plain JavaScript, no network but this
// server. The token comes from the address's fragment (#token=...), is
// kept in this tab's sessionStorage, and is only ever sent in the
// Authorization header, never in a URL.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const API = "/api/v1";

  // --- token -------------------------------------------------------------
  let token = "";
  {
    const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (m) {
      token = decodeURIComponent(m[1]);
      sessionStorage.setItem("peace.token", token);
      history.replaceState(null, "", location.pathname + location.search);
    } else {
      token = sessionStorage.getItem("peace.token") || "";
    }
  }

  async function api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Authorization: "Bearer " + token }, opts.headers || {});
    const res = await fetch(API + path, Object.assign({}, opts, { headers, cache: "no-store" }));
    return res;
  }

  async function apiJSON(path, opts) {
    const res = await api(path, opts);
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok && res.status !== 202) {
      const err = new Error((body && body.error) || res.status + " " + res.statusText);
      err.status = res.status;
      err.body = body;
      throw err;
    }
    return { status: res.status, body };
  }

  // --- connection state ----------------------------------------------------
  function setConn(ok, text) {
    const el = $("conn");
    el.textContent = text;
    el.classList.toggle("down", !ok);
  }

  // --- the graph -----------------------------------------------------------
  const MARKS = {
    queued: "○ queued", none: "○ nothing recorded", running: "▶ running", applied: "✓ applied",
    unchanged: "= unchanged", discovered: "✓ discovered", recorded: "✓ recorded", would_apply: "~ would apply",
    failed: "✗ failed", interrupted: "■ interrupted", not_started: "– not started", unknown: "? unknown",
    in_progress: "▶ in progress", removed: "⌫ removed",
  };
  let graph = null; // {flow, nodes, edges, layers}
  const nodes = {}; // id -> {el, status, limit, done, msg}

  function nodeEl(n) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "node";
    b.id = "node-" + n.id;
    b.dataset.item = n.id;
    b.innerHTML =
      '<span class="row"><span class="id"></span><span class="mark"></span></span>' +
      '<span class="type"></span>' +
      '<span class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><span></span></span>' +
      '<span class="msg"></span>';
    b.querySelector(".id").textContent = n.id;
    b.querySelector(".type").textContent = n.type;
    b.querySelector(".bar").setAttribute("aria-label", "progress of " + n.id);
    b.addEventListener("click", () => openLog(n.id));
    return b;
  }

  function drawGraph(g) {
    graph = g;
    $("flow-name").textContent = g.flow;
    document.title = "peace · " + g.flow;
    const layers = $("layers");
    layers.textContent = "";
    for (const k of Object.keys(nodes)) delete nodes[k];
    const byID = {};
    for (const n of g.nodes) byID[n.id] = n;
    g.layers.forEach((ids, i) => {
      const col = document.createElement("div");
      col.className = "layer";
      col.setAttribute("role", "list");
      col.setAttribute("aria-label", "layer " + (i + 1));
      const lab = document.createElement("div");
      lab.className = "layer-label";
      lab.textContent = i === 0 ? "layer 1 · no dependencies" : "layer " + (i + 1);
      col.appendChild(lab);
      for (const id of ids) {
        const wrap = document.createElement("div");
        wrap.setAttribute("role", "listitem");
        const el = nodeEl(byID[id]);
        wrap.appendChild(el);
        col.appendChild(wrap);
        nodes[id] = { el, status: "", limit: null, done: 0, msg: "" };
      }
      layers.appendChild(col);
    });
    for (const n of g.nodes) {
      setNode(n.id, { status: n.status || "none", msg: n.summary || "" });
    }
    drawEdges();
  }

  function drawEdges() {
    if (!graph) return;
    const svg = $("edges");
    const box = $("graph").getBoundingClientRect();
    const sx = $("graph").scrollLeft;
    let paths = "";
    for (const e of graph.edges) {
      const a = nodes[e.from], b = nodes[e.to];
      if (!a || !b) continue;
      const ra = a.el.getBoundingClientRect(), rb = b.el.getBoundingClientRect();
      const x1 = ra.right - box.left + sx, y1 = ra.top + ra.height / 2 - box.top;
      const x2 = rb.left - box.left + sx, y2 = rb.top + rb.height / 2 - box.top;
      const dx = Math.max(20, (x2 - x1) / 2);
      paths += `<path d="M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}"/>`;
    }
    svg.setAttribute("width", $("layers").scrollWidth);
    svg.setAttribute("height", $("graph").scrollHeight);
    svg.innerHTML = paths;
  }
  new ResizeObserver(drawEdges).observe($("graph"));

  function setNode(id, u) {
    const n = nodes[id];
    if (!n) return;
    if (u.status !== undefined) n.status = u.status;
    if (u.limit !== undefined) n.limit = u.limit;
    if (u.done !== undefined) n.done = u.done;
    if (u.msg !== undefined) n.msg = u.msg;
    const el = n.el;
    el.dataset.status = n.status;
    el.querySelector(".mark").textContent = MARKS[n.status] || n.status;
    const bar = el.querySelector(".bar");
    const fill = bar.firstChild;
    let pct = null;
    if (n.status === "running") {
      if (n.limit && n.limit.total > 0) pct = Math.min(100, Math.round((100 * n.done) / n.limit.total));
    } else if (["applied", "unchanged", "discovered", "would_apply"].includes(n.status)) {
      pct = 100;
    } else if (n.status === "interrupted" || n.status === "failed") {
      pct = n.limit && n.limit.total > 0 ? Math.min(100, Math.round((100 * n.done) / n.limit.total)) : 0;
    } else {
      pct = 0;
    }
    bar.classList.toggle("spin", n.status === "running" && pct === null);
    if (pct === null) {
      fill.style.width = "";
      bar.removeAttribute("aria-valuenow");
      bar.setAttribute("aria-valuetext", "working, no total known");
    } else {
      fill.style.width = pct + "%";
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-valuetext", pct + "%");
    }
    el.querySelector(".msg").textContent = n.msg;
    el.setAttribute("aria-label", `${id}, ${n.status.replace("_", " ")}${n.msg ? ", " + n.msg : ""}`);
  }

  // --- the selected execution ----------------------------------------------
  let current = null; // {id, exec, state, inFlight, lastSeq, ended, outcome, gen}
  let followGen = 0;

  function resetToExecution(e) {
    for (const id of Object.keys(nodes)) {
      const st = (e.items && e.items[id]) || "queued";
      setNode(id, { status: st === "running" ? "queued" : st, limit: null, done: 0, msg: "" });
    }
  }

  async function select(id) {
    const gen = ++followGen;
    sessionStorage.setItem("peace.exec", id);
    let e;
    try {
      e = (await apiJSON("/executions/" + encodeURIComponent(id))).body;
    } catch (err) {
      if (err.status === 404) {
        sessionStorage.removeItem("peace.exec");
        return;
      }
      throw err;
    }
    if (gen !== followGen) return;
    if (!graph || e.profile !== $("profile").value) {
      $("profile").value = e.profile;
      await loadGraph(e.profile);
    }
    current = { id, exec: e, state: e.state === "queued" ? "running" : e.state, inFlight: [], lastSeq: 0, ended: false, gen };
    $("exec-title").textContent = `${e.command} · ${e.profile} · ${id}`;
    resetToExecution({ items: {} });
    renderFooter();
    markCurrentRow();
    follow(current);
  }

  // follow reads the execution's event stream with fetch (EventSource
  // cannot send the token in a header), resuming with Last-Event-ID after
  // a dropped connection or a server restart, until the stream ends.
  async function follow(cur) {
    let delay = 500;
    while (cur.gen === followGen && !cur.ended) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (cur.lastSeq > 0) headers["Last-Event-ID"] = String(cur.lastSeq);
        const res = await api("/executions/" + encodeURIComponent(cur.id) + "/events", { headers });
        if (res.status === 404) { cur.ended = true; break; }
        if (!res.ok) throw new Error("events: " + res.status);
        setConn(true, "connected");
        delay = 500;
        await readSSE(res.body, (ev) => {
          if (cur.gen !== followGen) return false;
          if (ev.event === "end") {
            endExecution(cur, JSON.parse(ev.data));
            return false;
          }
          const e = JSON.parse(ev.data);
          if (ev.id) cur.lastSeq = Number(ev.id);
          apply(cur, e);
          return true;
        });
      } catch (err) {
        if (cur.gen !== followGen) return;
        setConn(false, "disconnected — reconnecting…");
      }
      if (!cur.ended && cur.gen === followGen) {
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async function readSSE(body, onEvent) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    let ev = { data: "", id: "", event: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, "");
        buf = buf.slice(i + 1);
        if (line === "") {
          if (ev.data !== "" || ev.event !== "") {
            if (onEvent(ev) === false) { reader.cancel().catch(() => {}); return; }
          }
          ev = { data: "", id: "", event: "" };
        } else if (line.startsWith(":")) {
          // a comment: keep-alive
        } else {
          const c = line.indexOf(":");
          const field = c < 0 ? line : line.slice(0, c);
          let val = c < 0 ? "" : line.slice(c + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "data") ev.data += (ev.data ? "\n" : "") + val;
          else if (field === "id") ev.id = val;
          else if (field === "event") ev.event = val;
        }
      }
    }
  }

  function apply(cur, e) {
    switch (e.type) {
      case "execution_start":
        if (e.items) for (const id of e.items) if (!nodes[id]) { /* not in this graph */ }
        break;
      case "block_start":
        if (cur.state === "queued") cur.state = "running";
        break;
      case "item_start":
        setNode(e.item, { status: "running", limit: null, done: 0, msg: e.block === "discover" ? "discovering" : "" });
        if (!cur.inFlight.includes(e.item)) cur.inFlight.push(e.item);
        break;
      case "item_limit":
        setNode(e.item, { limit: e.limit });
        break;
      case "item_progress":
        setNode(e.item, { done: e.done });
        break;
      case "item_message":
        setNode(e.item, { msg: e.message });
        break;
      case "item_output":
        setNode(e.item, { msg: e.line });
        break;
      case "item_done":
      case "item_failed":
      case "item_interrupted":
      case "item_unknown": {
        const st = e.status || (e.type === "item_failed" ? "failed" : e.type === "item_interrupted" ? "interrupted" : "unknown");
        setNode(e.item, { status: st, msg: e.error || "" });
        cur.inFlight = cur.inFlight.filter((x) => x !== e.item);
        break;
      }
      case "interrupt_received":
        cur.state = "stopping";
        if (e.in_flight) cur.inFlight = e.in_flight.slice();
        break;
      case "cancel_requested":
        cur.state = "cancelling";
        if (e.in_flight) cur.inFlight = e.in_flight.slice();
        break;
      case "execution_end":
        if (e.statuses) for (const [id, st] of Object.entries(e.statuses)) {
          const n = nodes[id];
          setNode(id, { status: st, msg: st === "not_started" ? "not started: stopped before it could start" : (n && n.status === st ? n.msg : "") });
        }
        cur.outcome = e.outcome;
        cur.inFlight = [];
        break;
    }
    renderFooter();
  }

  function endExecution(cur, e) {
    cur.ended = true;
    cur.exec = e;
    cur.state = e.state;
    cur.inFlight = [];
    for (const [id, st] of Object.entries(e.items || {})) {
      const n = nodes[id];
      if (n && n.status !== st && st !== "queued") setNode(id, { status: st });
    }
    renderFooter();
    refreshList();
  }

  // The footer says what each button does now, like the terminal view's.
  function renderFooter() {
    const stop = $("stop-btn"), cancel = $("cancel-btn"), kill = $("kill-btn");
    const f = $("footer");
    if (!current) {
      f.textContent = "No execution selected. Start one, or pick one from the list.";
      stop.disabled = cancel.disabled = true;
      kill.hidden = true;
      return;
    }
    const n = current.inFlight.length;
    const items = n === 1 ? "1 item" : n + " items";
    const names = n ? " (" + current.inFlight.join(", ") + ")" : "";
    stop.textContent = "Stop";
    cancel.textContent = "Cancel";
    kill.hidden = true;
    switch (current.state) {
      case "queued":
      case "running":
        f.textContent = `Running. Stop: start nothing new, let the ${items} in flight finish${names}. Cancel: also cancel them.`;
        stop.textContent = `Stop (${items} finish)`;
        cancel.textContent = `Cancel ${items}`;
        stop.disabled = false;
        cancel.disabled = false;
        break;
      case "stopping":
        f.textContent = `Stopping: nothing new starts; finishing ${items} in flight${names}. Cancel: cancel them now.`;
        stop.disabled = true;
        cancel.textContent = `Cancel ${items}`;
        cancel.disabled = false;
        break;
      case "cancelling":
        f.textContent = `Cancelling ${items} in flight${names}. Kill: kill every command still running.`;
        stop.disabled = cancel.disabled = true;
        kill.hidden = false;
        kill.disabled = false;
        kill.textContent = "Kill commands in flight";
        break;
      default: {
        const st = current.state;
        let text = `Ended: ${st}.`;
        if (st === "lost") text = "Lost: the process that ran it is gone without finishing; the next command recovers its items.";
        else if (st === "interrupted") text = "Ended: interrupted. Items that never started run on the next ensure.";
        f.textContent = text;
        stop.disabled = cancel.disabled = true;
      }
    }
  }

  async function interrupt(stage) {
    if (!current) return;
    try {
      const r = await apiJSON("/executions/" + encodeURIComponent(current.id) + "/interrupt", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ stage }),
      });
      if (r.status === 202 && r.body && r.body.in_flight) {
        if (stage === "stop" && current.state === "running") current.state = "stopping";
        if (stage !== "stop" && (current.state === "running" || current.state === "stopping")) current.state = "cancelling";
        current.inFlight = r.body.in_flight;
        renderFooter();
      }
    } catch (err) {
      $("start-msg").textContent = "Could not interrupt: " + err.message;
    }
  }
  $("stop-btn").addEventListener("click", () => interrupt("stop"));
  $("cancel-btn").addEventListener("click", () => interrupt("cancel"));
  $("kill-btn").addEventListener("click", () => interrupt("kill"));

  // --- start ---------------------------------------------------------------
  $("command").addEventListener("change", () => {
    const applies = ["ensure", "clean"].includes($("command").value);
    $("dry-run").disabled = !applies;
    if (!applies) $("dry-run").checked = false;
  });
  $("profile").addEventListener("change", () => {
    if ($("profile").checkValidity()) {
      followGen++;
      current = null;
      $("exec-title").textContent = "recorded states";
      renderFooter();
      loadGraph($("profile").value);
    }
  });
  $("start").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("start-msg");
    msg.textContent = "";
    const body = { command: $("command").value, profile: $("profile").value, dry_run: $("dry-run").checked };
    $("start-btn").disabled = true;
    try {
      const r = await apiJSON("/executions", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      await refreshList();
      await select(r.body.id);
    } catch (err) {
      let text = err.message;
      if (err.status === 409 && err.body && err.body.execution) {
        text += " — showing it.";
        select(err.body.execution);
      }
      msg.textContent = text;
    } finally {
      $("start-btn").disabled = false;
    }
  });

  // --- history -------------------------------------------------------------
  let listTimer = null;
  async function refreshList() {
    clearTimeout(listTimer);
    try {
      const r = await apiJSON("/executions");
      setConn(true, "connected");
      renderList(r.body.executions || []);
    } catch (err) {
      if (err.status === 401) setConn(false, "the token is missing or wrong: open the address peace serve printed");
      else setConn(false, "disconnected — reconnecting…");
    }
    listTimer = setTimeout(refreshList, 3000);
  }

  function renderList(execs) {
    const tb = $("executions").querySelector("tbody");
    tb.textContent = "";
    $("no-execs").hidden = execs.length > 0;
    const profiles = new Set(["default"]);
    for (const e of execs.slice(0, 50)) {
      profiles.add(e.profile);
      const tr = document.createElement("tr");
      tr.dataset.id = e.id;
      const when = new Date(e.started);
      const done = Object.values(e.items || {}).filter((s) => s !== "queued" && s !== "running").length;
      const total = Object.keys(e.items || {}).length;
      const cells = [null, e.command, e.profile, e.state, `${done}/${total}`];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 0) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "link";
          b.textContent = when.toLocaleTimeString([], { hour12: false });
          b.title = e.id;
          b.setAttribute("aria-label", `show ${e.command} of ${when.toLocaleString()}, ${e.state}`);
          b.addEventListener("click", () => select(e.id));
          td.appendChild(b);
        } else {
          const s = document.createElement("span");
          s.textContent = text;
          if (i === 3) s.className = "state " + e.state;
          td.appendChild(s);
        }
        tr.appendChild(td);
      });
      tb.appendChild(tr);
      if (current && current.id === e.id && !current.ended && e.state !== current.exec.state && ["lost"].includes(e.state)) {
        endExecution(current, e);
      }
    }
    const dl = $("profiles");
    dl.textContent = "";
    for (const p of [...profiles].sort()) {
      const o = document.createElement("option");
      o.value = p;
      dl.appendChild(o);
    }
    markCurrentRow();
    return execs;
  }

  function markCurrentRow() {
    for (const tr of $("executions").querySelectorAll("tbody tr")) {
      tr.classList.toggle("current", !!current && tr.dataset.id === current.id);
    }
  }

  // --- logs ----------------------------------------------------------------
  async function openLog(item) {
    for (const n of Object.values(nodes)) n.el.classList.remove("selected");
    if (nodes[item]) nodes[item].el.classList.add("selected");
    const panel = $("log-panel");
    panel.hidden = false;
    $("log-title").textContent = "Log of " + item;
    const pre = $("log");
    if (!current) {
      pre.textContent = "Select an execution to see what " + item + " printed in it.";
      return;
    }
    try {
      const res = await api("/executions/" + encodeURIComponent(current.id) + "/logs/" + encodeURIComponent(item));
      if (res.status === 404) pre.textContent = item + " printed nothing in this execution (or did not run).";
      else if (!res.ok) pre.textContent = "Could not read the log: " + res.status;
      else pre.textContent = (await res.text()) || "(empty)";
    } catch (err) {
      pre.textContent = "Could not read the log: " + err.message;
    }
    pre.focus();
  }
  $("log-close").addEventListener("click", () => {
    $("log-panel").hidden = true;
    for (const n of Object.values(nodes)) n.el.classList.remove("selected");
  });

  // --- start up ------------------------------------------------------------
  async function loadGraph(profile) {
    const r = await apiJSON("/graph?profile=" + encodeURIComponent(profile));
    drawGraph(r.body);
  }

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  async function boot() {
    if (!token) {
      setConn(false, "no token: open the address peace serve printed (it ends in #token=…)");
      return;
    }
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      try {
        await loadGraph($("profile").value);
        break;
      } catch (err) {
        setConn(false, err.status === 401 ? "the token is wrong: open the address peace serve printed" : "cannot reach the server — retrying…");
        if (err.status === 401) return;
        await sleep(delay);
      }
    }
    renderFooter();
    await refreshList();
    const saved = sessionStorage.getItem("peace.exec");
    if (saved) {
      try { await select(saved); } catch (e) { /* gone */ }
    } else {
      const rows = $("executions").querySelectorAll("tbody tr");
      for (const tr of rows) {
        const st = tr.querySelector(".state").textContent;
        if (["queued", "running", "stopping", "cancelling"].includes(st)) { await select(tr.dataset.id); break; }
      }
    }
  }
  boot();
})();
