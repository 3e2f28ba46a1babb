// Jarvis dashboard: plain modules, no build step, no third-party code. Everything is fetched
// from this server's own origin; text from the API is put into the page as text, never as HTML.

const KEY = "jarvis.key";
const view = document.getElementById("view");
const live = document.getElementById("live");

// ---------------------------------------------------------------- DOM

/** Builds an element: h("a", {href: "#/"}, "text", child, …). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("aria-") && value !== undefined && value !== null) {
      el.setAttribute(name, String(value));
      continue;
    }
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function statusBadge(status) {
  return h("span", { class: `status ${status}` }, status);
}

function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "–";
}

/** `text` with the [start, end) character ranges marked. */
function highlighted(text, ranges) {
  const chars = Array.from(text);
  const out = [];
  let at = 0;
  for (const [start, end] of ranges || []) {
    if (start < at) continue;
    out.push(chars.slice(at, start).join(""));
    out.push(h("mark", {}, chars.slice(start, end).join("")));
    at = end;
  }
  out.push(chars.slice(at).join(""));
  return out;
}

/** A small Markdown subset (headings, lists, fences, quotes, emphasis, code, links), as DOM. */
function markdown(text) {
  const root = h("div", { class: "markdown" });
  const lines = (text || "").split(/\r?\n/);
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) root.append(h("p", {}, inline(para.join(" "))));
    para = [];
  };
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      flush(); list = null;
      const code = [];
      for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence[1]); i += 1) code.push(lines[i]);
      root.append(h("pre", {}, h("code", {}, code.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:[-*+]|\d+[.)])\s+(.*)$/);
    if (heading) {
      flush(); list = null;
      root.append(h(`h${Math.min(heading[1].length + 1, 6)}`, {}, inline(heading[2])));
    } else if (item) {
      flush();
      if (!list) { list = h("ul"); root.append(list); }
      list.append(h("li", {}, inline(item[1])));
    } else if (line.startsWith(">")) {
      flush(); list = null;
      root.append(h("blockquote", {}, inline(line.replace(/^>\s?/, ""))));
    } else if (!line.trim()) {
      flush(); list = null;
    } else {
      list = null;
      para.push(line.trim());
    }
  }
  flush();
  return root;
}

function inline(text) {
  const out = [];
  const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*]+\*)|(\[([^\]]+)\]\((https?:\/\/[^)\s]+)\))/g;
  let at = 0;
  for (const m of text.matchAll(pattern)) {
    out.push(text.slice(at, m.index));
    if (m[1]) out.push(h("code", {}, m[1].slice(1, -1)));
    else if (m[2]) out.push(h("strong", {}, m[2].slice(2, -2)));
    else if (m[3]) out.push(h("em", {}, m[3].slice(1, -1)));
    else out.push(h("a", { href: m[6], rel: "noopener noreferrer", target: "_blank" }, m[5]));
    at = m.index + m[0].length;
  }
  out.push(text.slice(at));
  return out;
}

// ---------------------------------------------------------------- API

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await res.json().catch(() => null);
  if (res.status === 401) throw new Unauthorized(body?.error?.message || "sign in");
  if (!res.ok || !body?.success) {
    const error = new Error(body?.error?.message || `${res.status} ${res.statusText}`);
    error.code = body?.error?.code;
    throw error;
  }
  return body;
}

/** Every item of a paginated list, page by page (500 at a time). */
async function everything(path) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const body = await api(`${path}?limit=500&offset=${offset}`);
    items.push(...body.data);
    if (!body.metadata?.pagination?.has_more) return items;
  }
}

// ---------------------------------------------------------------- live updates

const listeners = new Map(); // topic → Set of callbacks
let socket = null;
let retry = 500;
let timer = 0;

function on(topic, callback) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(callback);
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "subscribe", topics: [topic] }));
  return () => {
    listeners.get(topic)?.delete(callback);
    if (!listeners.get(topic)?.size) {
      listeners.delete(topic);
      if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "unsubscribe", topics: [topic] }));
    }
  };
}

function reconnect() {
  clearTimeout(timer);
  retry = Math.min(retry * 2, 15000);
  timer = setTimeout(connect, retry);
}

/** Opens the live connection (through a single-use ticket when keys are in use), replacing any. */
async function connect() {
  clearTimeout(timer);
  const old = socket;
  socket = null;
  old?.close();
  let query = "";
  if (sessionStorage.getItem(KEY)) {
    try {
      const ticket = await api("/api/v2/ws-ticket", { method: "POST", body: {} });
      query = `?ticket=${encodeURIComponent(ticket.data.ticket)}`;
    } catch (e) {
      setLive(false, e.message);
      reconnect();
      return;
    }
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v2/ws${query}`);
  socket = ws;
  ws.addEventListener("open", () => {
    retry = 500;
    setLive(true, "Live updates: connected");
    if (listeners.size) ws.send(JSON.stringify({ type: "subscribe", topics: [...listeners.keys()] }));
  });
  ws.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type !== "event") return;
    for (const callback of listeners.get(event.topic) || []) callback(event);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    setLive(false, "Live updates: reconnecting");
    reconnect();
  });
}

function setLive(on, title) {
  live.className = `dot ${on ? "on" : "off"}`;
  live.title = title;
  document.body.dataset.live = on ? "on" : "off";
}

// ---------------------------------------------------------------- views

let cleanup = [];

function keep(unsubscribe) {
  cleanup.push(unsubscribe);
}

/** A line chart of the last values on a canvas. */
function chart(label, format) {
  const canvas = h("canvas", { class: "chart", width: 600, height: 120, "aria-label": label });
  const value = h("div", { class: "big" }, "–");
  const values = [];
  return {
    el: h("div", { class: "card" }, h("h2", {}, label), value, canvas),
    push(v, max) {
      values.push(v);
      if (values.length > 150) values.shift();
      value.textContent = format(v);
      const ctx = canvas.getContext("2d");
      const style = getComputedStyle(document.documentElement);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.strokeStyle = style.getPropertyValue("--accent").trim() || "#6cb6ff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      const top = max ?? Math.max(...values, 1);
      values.forEach((x, i) => {
        const px = (i / 149) * canvas.width;
        const py = canvas.height - (x / top) * (canvas.height - 4) - 2;
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    },
  };
}

async function overview() {
  const cpu = chart("CPU", (v) => `${v.toFixed(1)} %`);
  const memory = chart("Memory", (v) => `${v.toFixed(1)} %`);
  const network = chart("Network", (v) => `${bytes(v)}/s`);
  const services = h("div", { class: "card" }, h("h2", {}, "Services"), h("p", { class: "muted" }, "…"));
  const tasks = h("div", { class: "card" }, h("h2", {}, "Recent tasks"), h("p", { class: "muted" }, "…"));
  const costs = h("div", { class: "card" }, h("h2", {}, "Today's cost"), h("p", { class: "muted" }, "…"));
  view.replaceChildren(h("h1", {}, "Overview"), h("div", { class: "grid" }, cpu.el, memory.el, network.el, costs, services, tasks));
  keep(on("metrics", (event) => {
    const s = event.data;
    cpu.push(s.cpu_percent, 100);
    memory.push(s.memory_percent, 100);
    network.push((s.net_rx_bytes_per_sec || 0) + (s.net_tx_bytes_per_sec || 0));
    document.body.dataset.metrics = String(Number(document.body.dataset.metrics || 0) + 1);
  }));
  const renderTasks = async () => {
    const body = await api("/api/v2/tasks?limit=8");
    tasks.replaceChildren(h("h2", {}, "Recent tasks"), taskTable(body.data));
  };
  keep(on("tasks", () => renderTasks().catch(() => {})));
  const renderServices = async () => {
    const body = await api("/api/v2/services");
    const rows = [];
    for (const s of body.data) {
      if (s.name === "mcp") {
        for (const server of s.checks || []) {
          rows.push(h("tr", {}, h("td", {}, `MCP ${server.name}`), h("td", {}, statusBadge(server.status)), h("td", { class: "muted" }, server.error_code || (server.duration_ms != null ? `${server.duration_ms} ms` : ""))));
        }
      } else {
        const status = s.enabled === false ? "disabled" : s.health == null ? "unchecked" : s.health.healthy ? "healthy" : "unhealthy";
        rows.push(h("tr", {}, h("td", {}, s.name), h("td", {}, statusBadge(status)), h("td", { class: "muted" }, s.health?.error || "")));
      }
    }
    services.replaceChildren(h("h2", {}, "Services"), h("table", { id: "services" }, h("tbody", {}, rows)));
  };
  keep(on("services", () => renderServices().catch(() => {})));
  const renderCosts = async () => {
    try {
      const body = await api("/api/v2/costs/current");
      const c = body.data;
      const today = c.today.totals.totalCost;
      const budget = c.today.budget;
      costs.replaceChildren(h("h2", {}, "Today's cost"), h("div", { class: "big", id: "cost-today" }, `$${today.toFixed(2)}`),
        budget ? h("p", { class: "muted" }, `${budget.percent.toFixed(0)} % of the $${budget.limit.toFixed(2)} daily budget`) : null,
        h("p", { class: "muted" }, `burn rate $${c.burn_rate.cost_per_hour.toFixed(2)}/h · this month $${c.month.totals.totalCost.toFixed(2)}`));
    } catch (e) {
      costs.replaceChildren(h("h2", {}, "Today's cost"), h("p", { class: "muted" }, e.message));
    }
  };
  keep(on("costs", () => renderCosts()));
  await Promise.all([renderTasks(), renderServices(), renderCosts()]);
}

function taskTable(items) {
  if (!items.length) return h("p", { class: "muted" }, "No tasks yet.");
  return h("table", {}, h("tbody", {}, items.map((t) => h("tr", {},
    h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(t.id)}` }, `${t.kind} ${t.target}`)),
    h("td", {}, statusBadge(t.status)),
    h("td", { class: "muted" }, when(t.created_at))))));
}

const KINDS = [["agent", "Agents"], ["command", "Commands"], ["skill", "Skills"], ["mcp_server", "MCP servers"], ["workflow", "Workflows"]];
const PLURAL = { agent: "agents", command: "commands", skill: "skills", mcp_server: "mcp-servers", workflow: "workflows" };

/** A list that renders only the rows in view, so 10,000 items scroll smoothly. */
function virtualList(items, renderRow, onOpen) {
  const height = 56;
  const box = h("div", { class: "list", role: "listbox", tabindex: 0, "aria-label": "Results" });
  const spacer = h("div");
  spacer.style.height = `${items.length * height}px`;
  box.append(spacer);
  let selected = 0;
  const draw = () => {
    const first = Math.max(0, Math.floor(box.scrollTop / height) - 5);
    const last = Math.min(items.length, first + Math.ceil(box.clientHeight / height) + 10);
    const rows = [];
    for (let i = first; i < last; i += 1) {
      const row = h("div", { class: `row${i === selected ? " selected" : ""}`, role: "option", "aria-selected": i === selected, onclick: () => onOpen(items[i]) }, renderRow(items[i]));
      row.style.top = `${i * height}px`;
      rows.push(row);
    }
    spacer.replaceChildren(...rows);
  };
  // Scroll events come at most once a frame, before it is painted: drawing here shows the new
  // rows in the same frame.
  box.addEventListener("scroll", draw);
  box.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      selected = Math.max(0, Math.min(items.length - 1, selected + (e.key === "ArrowDown" ? 1 : -1)));
      const top = selected * height;
      if (top < box.scrollTop) box.scrollTop = top;
      if (top + height > box.scrollTop + box.clientHeight) box.scrollTop = top + height - box.clientHeight;
      draw();
    } else if (e.key === "Enter" && items[selected]) {
      onOpen(items[selected]);
    }
  });
  requestAnimationFrame(draw);
  return box;
}

async function resources(params) {
  const kinds = new Set((params.get("kind") || "").split(",").filter(Boolean));
  const input = h("input", { type: "search", placeholder: "Search agents, commands, skills, MCP servers, workflows…", value: params.get("q") || "", "aria-label": "Search", id: "search" });
  const chips = h("div", { class: "chips toolbar" }, KINDS.map(([kind, label]) => h("button", {
    type: "button", "aria-pressed": kinds.has(kind),
    onclick: (e) => { kinds.has(kind) ? kinds.delete(kind) : kinds.add(kind); e.target.setAttribute("aria-pressed", kinds.has(kind)); run(); },
  }, label)));
  const results = h("div", {});
  const detailBox = h("div", {});
  const count = h("span", { class: "muted" });
  view.replaceChildren(h("h1", {}, "Resources"), h("div", { class: "toolbar" }, input, count), chips, h("div", { class: "split" }, results, detailBox));
  let asked = 0;
  const open = (item) => {
    const keepQuery = new URLSearchParams();
    if (input.value.trim()) keepQuery.set("q", input.value.trim());
    if (kinds.size) keepQuery.set("kind", [...kinds].join(","));
    location.hash = `#/resources/${PLURAL[item.kind]}/${encodeURIComponent(item.id)}?${keepQuery}`;
  };
  const run = async () => {
    const ticket = ++asked;
    const q = input.value.trim();
    const kindQuery = [...kinds].map((k) => `&kind=${k}`).join("");
    if (q) {
      const body = await api(`/api/v2/search?q=${encodeURIComponent(q)}&limit=100${kindQuery}`);
      if (ticket !== asked) return;
      const hits = body.data.hits;
      count.textContent = `${hits.length} hits in ${body.data.took_us} µs`;
      results.replaceChildren(virtualList(hits, (hit) => [
        h("div", { class: "name" }, hit.highlight.field === "name" ? highlighted(hit.name, hit.highlight.ranges) : hit.name, " ", h("span", { class: "muted" }, hit.kind)),
        h("div", { class: "desc" }, hit.highlight.field === "name" ? hit.description : highlighted(hit.highlight.text, hit.highlight.ranges)),
      ], open));
    } else {
      const lists = await Promise.all((kinds.size ? [...kinds] : KINDS.map(([k]) => k)).map((k) => everything(`/api/v2/${PLURAL[k]}`)));
      if (ticket !== asked) return;
      const items = lists.flat();
      count.textContent = `${items.length} resources`;
      results.replaceChildren(virtualList(items, (r) => [
        h("div", { class: "name" }, r.qualified_name, " ", h("span", { class: "muted" }, r.kind), r.health ? [" ", statusBadge(r.health.status)] : null),
        h("div", { class: "desc" }, r.description),
      ], open));
    }
  };
  let timer = 0;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => run().catch(show), 120); });
  input.focus();
  await run();
  if (params.get("open")) await detail(detailBox, params.get("kindPath"), params.get("open"));
}

async function detail(box, plural, id) {
  const body = await api(`/api/v2/${plural}/${encodeURIComponent(id)}`);
  const r = body.data;
  const fields = [["Kind", r.kind], ["Scope", r.scope], ["Source", r.source], ["Category", r.category], ["Tags", (r.tags || []).join(", ")]];
  const d = r.details || {};
  for (const [k, v] of Object.entries(d)) {
    if (Array.isArray(v) && v.every((x) => typeof x !== "object")) fields.push([k, v.join(", ")]);
    else if (v !== null && typeof v !== "object") fields.push([k, String(v)]);
  }
  const parts = [h("h2", {}, r.qualified_name), h("p", {}, r.description),
    h("dl", { class: "fields" }, fields.filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))];
  if (d.env && Object.keys(d.env).length) parts.push(h("h3", {}, "Environment"), h("dl", { class: "fields" }, Object.entries(d.env).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  if (r.health) {
    const health = r.health;
    parts.push(h("h3", {}, "Health ", statusBadge(health.status)), h("p", { class: "muted" }, health.reason || health.error?.message || ""));
    if (health.tools?.length) parts.push(h("ul", {}, health.tools.map((t) => h("li", {}, h("code", {}, t.name), t.description ? ` — ${t.description}` : ""))));
  }
  if (r.kind === "command" || r.kind === "agent") parts.push(runForm(r));
  if (typeof r.body === "string" && r.body) parts.push(h("h3", {}, "Body"), markdown(r.body));
  box.replaceChildren(h("div", { class: "card", id: "detail" }, parts));
}

function runForm(resource) {
  const args = h("input", { type: "text", placeholder: resource.kind === "agent" ? "The task for the agent" : "Arguments", "aria-label": "Arguments", id: "run-args" });
  const form = h("form", { class: "toolbar", id: "run-form" }, args, h("button", { type: "submit", class: "primary" }, "Run"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const path = resource.kind === "agent" ? `/api/v2/agents/${encodeURIComponent(resource.id)}/run` : `/api/v2/commands/${encodeURIComponent(resource.id)}/run`;
    const payload = resource.kind === "agent" ? { task: args.value } : { arguments: args.value };
    try {
      const body = await api(path, { method: "POST", body: payload });
      location.hash = `#/tasks/${encodeURIComponent(body.data.id)}`;
    } catch (err) { show(err); }
  });
  return form;
}

async function tasksView() {
  const body = await api("/api/v2/tasks?limit=50");
  const box = h("div", { class: "card" }, taskTable(body.data));
  view.replaceChildren(h("h1", {}, "Tasks"), box);
  keep(on("tasks", async () => {
    const fresh = await api("/api/v2/tasks?limit=50").catch(() => null);
    if (fresh) box.replaceChildren(taskTable(fresh.data));
  }));
}

async function taskView(id) {
  const output = h("pre", { class: "output", id: "output", "aria-live": "polite" });
  const status = h("span", { id: "task-status" });
  const cancel = h("button", { type: "button", id: "cancel", onclick: async () => {
    try { await api(`/api/v2/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST", body: {} }); } catch (e) { show(e); }
  } }, "Cancel");
  const title = h("h1", {}, "Task");
  view.replaceChildren(title, h("div", { class: "toolbar" }, status, cancel), output);
  const paint = (task) => {
    title.textContent = `${task.kind} ${task.target}`;
    status.replaceChildren(statusBadge(task.status));
    status.dataset.status = task.status;
    cancel.hidden = !["queued", "running"].includes(task.status);
  };
  keep(on(`task:${id}`, (event) => {
    if (event.event === "output") output.append(event.data.chunk);
    else if (event.event === "task") paint(event.data);
  }));
  const final = (status) => !["queued", "running"].includes(status);
  const body = await api(`/api/v2/tasks/${encodeURIComponent(id)}`);
  paint(body.data);
  if (!output.textContent && body.data.stdout) output.textContent = body.data.stdout;
  // An event that left before the subscription took hold is not lost: until the task ends,
  // its state is also read now and then.
  if (!final(body.data.status)) {
    const poll = setInterval(async () => {
      const fresh = await api(`/api/v2/tasks/${encodeURIComponent(id)}`).catch(() => null);
      if (!fresh) return;
      paint(fresh.data);
      if (final(fresh.data.status)) {
        clearInterval(poll);
        if (fresh.data.stdout && fresh.data.stdout.length > output.textContent.length) output.textContent = fresh.data.stdout;
      }
    }, 1000);
    keep(() => clearInterval(poll));
  }
}

async function diagnosticsView() {
  const body = await api("/api/v2/diagnostics?limit=500");
  const byCode = new Map();
  for (const d of body.data) {
    if (!byCode.has(d.code)) byCode.set(d.code, new Map());
    const files = byCode.get(d.code);
    if (!files.has(d.path)) files.set(d.path, []);
    files.get(d.path).push(d);
  }
  const sections = [...byCode.entries()].sort((a, b) => b[1].size - a[1].size).map(([code, files]) =>
    h("details", { class: "card", open: byCode.size < 6 }, h("summary", {}, h("code", {}, code), ` — ${files.size} file(s)`),
      h("table", {}, h("tbody", {}, [...files.entries()].map(([path, items]) => h("tr", {},
        h("td", {}, path), h("td", {}, items.map((d) => h("div", {}, statusBadge(d.severity), " ", d.line ? `line ${d.line}: ` : "", d.message)))))))));
  view.replaceChildren(h("h1", {}, "Diagnostics"), sections.length ? h("div", { id: "diagnostics" }, sections) : h("p", { class: "muted" }, "Nothing to report: every file was read."));
}

/** Bars (or a line) of `values` on a canvas, scaled to their maximum. */
function drawSeries(canvas, values, kind = "line") {
  const ctx = canvas.getContext("2d");
  const style = getComputedStyle(document.documentElement);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = ctx.fillStyle = style.getPropertyValue("--accent").trim() || "#6cb6ff";
  const top = Math.max(...values, 1e-9);
  const w = canvas.width / Math.max(values.length, 1);
  if (kind === "bars") {
    values.forEach((v, i) => {
      const bar = (v / top) * (canvas.height - 4);
      ctx.fillRect(i * w + 1, canvas.height - bar, Math.max(w - 2, 1), bar);
    });
    return;
  }
  ctx.lineWidth = 2;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = values.length > 1 ? (i / (values.length - 1)) * canvas.width : 0;
    const y = canvas.height - (v / top) * (canvas.height - 4) - 2;
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

async function workflowsView() {
  const [workflows, executions] = await Promise.all([
    everything("/api/v2/workflows"),
    api("/api/v2/workflows/executions?limit=50"),
  ]);
  const rows = new Map(executions.data.map((e) => [e.id, e]));
  const table = h("tbody", { id: "executions" });
  const paint = () => table.replaceChildren(...[...rows.values()].sort((a, b) => b.started_at - a.started_at).map((e) =>
    h("tr", { "data-id": e.id }, h("td", {}, e.workflow_name), h("td", {}, statusBadge(e.status)), h("td", { class: "muted" }, when(e.started_at)), h("td", { class: "muted" }, e.error || ""))));
  paint();
  const list = h("tbody", {}, workflows.map((w) => h("tr", {},
    h("td", {}, w.name), h("td", {}, statusBadge(w.details?.active ? "ok" : "disabled")),
    h("td", {}, h("button", { type: "button", "data-workflow": w.id, onclick: async () => {
      try { await api(`/api/v2/workflows/${encodeURIComponent(w.id)}/trigger`, { method: "POST", body: { parameters: {} } }); } catch (e) { show(e); }
    } }, "Trigger")))));
  view.replaceChildren(h("h1", {}, "Workflows"),
    h("div", { class: "card" }, h("h2", {}, "Workflows"), workflows.length ? h("table", {}, list) : h("p", { class: "muted" }, "No workflows.")),
    h("div", { class: "card" }, h("h2", {}, "Executions"), h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Workflow"), h("th", {}, "Status"), h("th", {}, "Started"), h("th", {}, "Error"))), table)));
  keep(on("workflows", (event) => { rows.set(event.data.id, event.data); paint(); }));
}

async function costsView() {
  const [daily, models, projects] = await Promise.all(["day", "model", "project"].map((by) => api(`/api/v2/costs/report?group_by=${by}`)));
  const canvas = h("canvas", { class: "chart", width: 900, height: 160, "aria-label": "Cost per day", id: "cost-chart" });
  const breakdown = (title, report) => h("div", { class: "card" }, h("h2", {}, title), report.data.rows.length
    ? h("table", {}, h("tbody", {}, report.data.rows.map((r) => h("tr", {}, h("td", {}, r.period), h("td", {}, `$${r.totalCost.toFixed(2)}`), h("td", { class: "muted" }, `${r.totalTokens.toLocaleString()} tokens`)))))
    : h("p", { class: "muted" }, "Nothing recorded."));
  view.replaceChildren(h("h1", {}, "Costs"),
    h("div", { class: "card" }, h("h2", {}, "Per day"), h("div", { class: "big" }, `$${daily.data.totals.totalCost.toFixed(2)}`), canvas),
    h("div", { class: "grid" }, breakdown("By model", models), breakdown("By project", projects)));
  drawSeries(canvas, daily.data.rows.map((r) => r.totalCost), "bars");
  keep(on("costs", () => route()));
}

const RANGES = [["1h", "1 hour"], ["24h", "1 day"], ["7d", "7 days"], ["90d", "90 days"]];

async function metricsView(params) {
  const catalog = await api("/api/v2/metrics");
  const metric = params.get("metric") || catalog.data.metrics[0]?.name || "cpu_usage";
  const range = params.get("range") || "1h";
  const select = h("select", { id: "metric", "aria-label": "Metric", onchange: (e) => { location.hash = `#/metrics?metric=${e.target.value}&range=${range}`; } },
    catalog.data.metrics.map((m) => h("option", { value: m.name, selected: m.name === metric }, `${m.name} (${m.unit})`)));
  const ranges = h("div", { class: "chips" }, RANGES.map(([value, label]) => h("button", { type: "button", "aria-pressed": value === range,
    onclick: () => { location.hash = `#/metrics?metric=${metric}&range=${value}`; } }, label)));
  const canvas = h("canvas", { class: "chart", width: 900, height: 200, id: "history-chart" });
  const summary = h("p", { class: "muted", id: "history-summary" }, "…");
  view.replaceChildren(h("h1", {}, "Metrics"), h("div", { class: "toolbar" }, select, ranges), h("div", { class: "card" }, canvas, summary));
  const history = await api(`/api/v2/metrics/history?metric=${encodeURIComponent(metric)}&time_range=${range}`);
  const points = history.data.points;
  drawSeries(canvas, points.map((p) => p.mean));
  summary.textContent = `${points.length} points, one per ${history.data.step_secs} s, from the ${history.data.resolution.step_secs} s history; unit ${history.data.unit}`;
}

// ---------------------------------------------------------------- shell

function show(error) {
  if (error instanceof Unauthorized) return signIn(error.message);
  view.append(h("p", { class: "error", role: "alert" }, error.message));
}

function signIn(message) {
  const dialog = document.getElementById("signin");
  document.getElementById("signin-error").textContent = message && message !== "sign in" ? message : "";
  if (!dialog.open) dialog.showModal();
}

document.getElementById("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const key = document.getElementById("key").value.trim();
  sessionStorage.setItem(KEY, key);
  try {
    await api("/api/v2/tasks?limit=1");
    document.getElementById("signin").close();
    document.getElementById("signout").hidden = false;
    retry = 500;
    connect();
    route();
  } catch (err) {
    sessionStorage.removeItem(KEY);
    document.getElementById("signin-error").textContent = err.message;
  }
});

document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  location.reload();
});

document.getElementById("theme").addEventListener("click", () => {
  const root = document.documentElement;
  const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = dark ? "light" : "dark";
  localStorage.setItem("jarvis.theme", root.dataset.theme);
});

async function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || "overview";
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === name);
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
  }
  try {
    if (name === "resources") {
      if (parts[1] && parts[2]) { params.set("kindPath", parts[1]); params.set("open", parts[2]); }
      await resources(params);
    } else if (name === "tasks" && parts[1]) await taskView(parts[1]);
    else if (name === "tasks") await tasksView();
    else if (name === "diagnostics") await diagnosticsView();
    else if (name === "workflows") await workflowsView();
    else if (name === "costs") await costsView();
    else if (name === "metrics") await metricsView(params);
    else await overview();
    view.focus({ preventScroll: true });
  } catch (e) {
    show(e);
  }
}

const theme = localStorage.getItem("jarvis.theme");
if (theme) document.documentElement.dataset.theme = theme;
if (sessionStorage.getItem(KEY)) document.getElementById("signout").hidden = false;
window.addEventListener("hashchange", route);
route().then(connect);
