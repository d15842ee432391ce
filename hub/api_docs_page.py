"""The ``GET /api/docs`` page: one self-contained HTML file (inline CSS and script, nothing
loaded from a CDN) that fetches ``/api/v1/openapi.json`` and ``/api/v1/asyncapi.json`` and
renders them: REST operations grouped by tag, Socket.IO events, expandable schemas."""

from __future__ import annotations

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Seva Hub API</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d232a; background: #fafafa; }
header { background: #5a2d0c; color: #fff; padding: 12px 20px; }
header a { color: #ffd9a8; margin-right: 16px; }
main { max-width: 1100px; margin: 0 auto; padding: 12px 20px 60px; }
h2 { border-bottom: 2px solid #e0d3c5; padding-bottom: 4px; margin-top: 32px; }
h3 { margin: 20px 0 6px; color: #5a2d0c; }
details { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; margin: 6px 0; }
details > summary { cursor: pointer; padding: 6px 10px; }
details .body { padding: 4px 14px 12px; }
code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
.method { display: inline-block; min-width: 58px; font-weight: 700; font-family: monospace; }
.GET { color: #1565c0; } .POST { color: #2e7d32; } .PUT { color: #ef6c00; }
.PATCH { color: #6a1b9a; } .DELETE { color: #c62828; }
.send { color: #2e7d32; font-weight: 700; } .receive { color: #1565c0; font-weight: 700; }
table { border-collapse: collapse; margin: 4px 0; }
td, th { border: 1px solid #e6e6e6; padding: 3px 8px; text-align: left; vertical-align: top; }
.muted { color: #6b7280; } .req { color: #c62828; }
#filter { width: 100%; padding: 8px; font-size: 15px; margin: 10px 0; box-sizing: border-box; }
#error { color: #c62828; }
</style>
</head>
<body>
<header>
<strong>Seva Hub API</strong> &nbsp;
<a href="/api/v1/openapi.json">openapi.json (OpenAPI 3.1)</a>
<a href="/api/v1/asyncapi.json">asyncapi.json (AsyncAPI 3.0)</a>
</header>
<main>
<input id="filter" placeholder="Filter routes, events and schemas" aria-label="filter">
<p id="error"></p>
<section id="rest"><h2>REST</h2><p class="muted">Loading /api/v1/openapi.json ...</p></section>
<section id="socket"><h2>Socket.IO</h2><p class="muted">Loading /api/v1/asyncapi.json ...</p>
</section>
<section id="schemas"><h2>Schemas</h2></section>
</main>
<script>
"use strict";
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;",
  ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const refName = (ref) => ref.split("/").pop();
const schemaLink = (prefix, ref) =>
  `<a class="mono" href="#${prefix}-${esc(refName(ref))}">${esc(refName(ref))}</a>`;

function typeOf(s, prefix) {
  if (!s || typeof s !== "object") return "any";
  if (s.$ref) return schemaLink(prefix, s.$ref);
  if (s.const !== undefined) return `<code>${esc(JSON.stringify(s.const))}</code>`;
  if (s.enum) return s.enum.map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(" | ");
  const alts = s.anyOf || s.oneOf;
  if (alts) return alts.map((a) => typeOf(a, prefix)).join(" | ");
  if (s.type === "array") return `array of ${typeOf(s.items, prefix)}`;
  if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object")
    return `map of ${typeOf(s.additionalProperties, prefix)}`;
  let t = esc(s.type || "any");
  if (s.format) t += ` <span class="muted">(${esc(s.format)})</span>`;
  return t;
}

function renderSchema(s, prefix) {
  if (!s) return "";
  if (s.$ref || !s.properties) {
    const d = s.description ? ` <span class="muted">${esc(s.description)}</span>` : "";
    return `<div>${typeOf(s, prefix)}${d}</div>`;
  }
  const req = new Set(s.required || []);
  const rows = Object.entries(s.properties).map(([name, p]) =>
    `<tr><td class="mono">${esc(name)}${req.has(name) ? ' <span class="req">*</span>' : ""}</td>` +
    `<td>${typeOf(p, prefix)}</td><td>${esc(p.description || p.title || "")}</td></tr>`);
  return `<table><tr><th>field</th><th>type</th><th>about</th></tr>${rows.join("")}</table>`;
}

function renderOperation(path, method, op) {
  const shared = window.openapi.components.parameters || {};
  const params = (op.parameters || []).map((p) => {
    if (p.$ref) p = shared[refName(p.$ref)];
    return `<tr><td class="mono">${esc(p.name)}${p.required ? ' <span class="req">*</span>' : ""}` +
      `</td><td>${esc(p.in)}</td><td>${typeOf(p.schema, "rest")}</td></tr>`;
  });
  let html = `<p>${esc(op.description || "")}</p>`;
  if (params.length) html += `<h4>Parameters</h4><table>${params.join("")}</table>`;
  if (op.requestBody) {
    for (const [media, c] of Object.entries(op.requestBody.content)) {
      html += `<h4>Body <span class="muted">${esc(media)}</span></h4>` +
        renderSchema(c.schema, "rest");
    }
  }
  html += "<h4>Responses</h4><table>";
  for (const [status, r] of Object.entries(op.responses || {})) {
    let what = "";
    if (r.$ref) what = esc(window.openapi.components.responses[refName(r.$ref)].description);
    else {
      what = esc(r.description || "");
      for (const c of Object.values(r.content || {})) what += renderSchema(c.schema, "rest");
    }
    html += `<tr><td class="mono">${esc(status)}</td><td>${what}</td></tr>`;
  }
  html += "</table>";
  const text = (method + " " + path + " " + op.summary).toLowerCase();
  const m = esc(method.toUpperCase());
  return `<details class="item" data-text="${esc(text)}">` +
    `<summary><span class="method ${m}">${m}</span>` +
    `<span class="mono">${esc(path)}</span> &nbsp; ${esc(op.summary || "")}</summary>` +
    `<div class="body">${html}</div></details>`;
}

function renderRest(doc) {
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(renderOperation(path, method, op));
    }
  }
  let html = `<h2>REST <span class="muted">(${esc(doc.info.version)})</span></h2>` +
    `<p>${esc(doc.info.description)}</p>`;
  for (const tag of [...byTag.keys()].sort()) {
    html += `<h3>${esc(tag)}</h3>${byTag.get(tag).join("")}`;
  }
  document.getElementById("rest").innerHTML = html;
}

function renderSocket(doc) {
  const messages = doc.components.messages;
  const rows = Object.entries(doc.operations).map(([id, op]) => {
    const msg = messages[refName(op.messages[0].$ref)];
    let body = `<p>${esc(op.summary || "")}</p><h4>Payload</h4>` +
      renderSchema(msg.payload, "async");
    if (op.reply) {
      const ack = messages[refName(op.reply.messages[0].$ref)];
      body += "<h4>Ack</h4>" +
        (ack.payload.oneOf || []).map((s) => renderSchema(s, "async")).join("");
    }
    const text = (msg.name + " " + (op.summary || "")).toLowerCase();
    return `<details class="item" data-text="${esc(text)}">` +
      `<summary><span class="${esc(op.action)}">${op.action === "receive" ? "client → server" :
      "server → client"}</span> &nbsp; <span class="mono">${esc(msg.name)}</span></summary>` +
      `<div class="body">${body}</div></details>`;
  });
  document.getElementById("socket").innerHTML = "<h2>Socket.IO</h2>" +
    `<p>${esc(doc.info.description)}</p>` + rows.join("");
}

function renderSchemas(prefix, title, schemas) {
  const html = Object.entries(schemas).sort().map(([name, s]) =>
    `<details class="item" id="${prefix}-${esc(name)}" data-text="${esc(name.toLowerCase())}">` +
    `<summary class="mono">${esc(name)}</summary><div class="body">` +
    `<p>${esc(s.description || "")}</p>${renderSchema(s, prefix)}</div></details>`);
  document.getElementById("schemas").insertAdjacentHTML("beforeend",
    `<h3>${esc(title)}</h3>${html.join("")}`);
}

document.getElementById("filter").addEventListener("input", (e) => {
  const q = e.target.value.trim().toLowerCase();
  for (const el of document.querySelectorAll(".item")) {
    el.style.display = !q || el.dataset.text.includes(q) ? "" : "none";
  }
});

window.addEventListener("hashchange", () => {
  const el = document.getElementById(location.hash.slice(1));
  if (el && el.tagName === "DETAILS") el.open = true;
});

async function load(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

(async () => {
  try {
    window.openapi = await load("/api/v1/openapi.json");
    renderRest(window.openapi);
    renderSchemas("rest", "REST schemas", window.openapi.components.schemas);
    const asyncapi = await load("/api/v1/asyncapi.json");
    renderSocket(asyncapi);
    renderSchemas("async", "Socket.IO schemas", asyncapi.components.schemas);
    document.body.dataset.ready = "true";
  } catch (err) {
    document.getElementById("error").textContent = String(err);
  }
})();
</script>
</body>
</html>
"""
