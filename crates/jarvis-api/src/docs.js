// The documentation page: renders /api/v2/openapi.json. Served as a file so that the page
// can forbid inline scripts in its content security policy.
"use strict";
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
};
async function main() {
  const base = location.pathname.startsWith("/api/v2") ? "/api/v2" : "";
  const doc = await (await fetch(base + "/openapi.json")).json();
  document.getElementById("lead").textContent = doc.info.description + " (version " + doc.info.version + ")";
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[op.tags[0]] ||= []).push({ path, method, op });
  const ops = document.getElementById("ops");
  for (const t of doc.tags) {
    if (!byTag[t.name]) continue;
    ops.append(el("h2", {}, t.name + " — " + t.description));
    for (const { path, method, op } of byTag[t.name]) ops.append(operation(path, method, op));
  }
}
function operation(path, method, op) {
  const summary = el("summary", {}, el("span", { class: "m" }, method), path, el("span", { class: "s" }, op.summary));
  if (op.deprecated) summary.append(el("span", { class: "dep" }, "deprecated"));
  const box = el("details", {}, summary);
  const inputs = {};
  if (op.parameters.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "description"), el("th", {}, "value")));
    for (const p of op.parameters) {
      const input = el("input", { placeholder: p.schema.type + (p.required ? " (required)" : "") });
      inputs[p.name] = { input, where: p.in };
      table.append(el("tr", {}, el("td", {}, p.name), el("td", {}, p.in), el("td", {}, p.description), el("td", {}, input)));
    }
    box.append(table);
  }
  const codes = Object.keys(op.responses).join(", ");
  box.append(el("p", {}, "Responses: " + codes));
  const out = el("pre");
  const button = el("button", {}, "Send");
  button.onclick = async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const [name, { input, where }] of Object.entries(inputs)) {
      if (!input.value) continue;
      if (where === "path") url = url.replace("{" + name + "}", encodeURIComponent(input.value));
      else query.append(name, input.value);
    }
    const qs = query.toString();
    const res = await fetch(url + (qs ? "?" + qs : ""));
    const text = await res.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
    out.textContent = res.status + " " + res.statusText + "\n\n" + shown;
  };
  if (method === "get") box.append(button, out);
  return box;
}
main().catch(err => { document.getElementById("lead").textContent = "Could not load the OpenAPI document: " + err; });
