// One activation's transcript: each model request and reply, tool calls and results, Hub writes, cost.
"use strict";
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (k === "class") node.className = v; else node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => p.text ?? (p.type === "tool_use" ? `tool_use ${p.name} ${JSON.stringify(p.input)}` : p.type === "tool_result" ? `tool_result: ${textOf(p.content)}` : JSON.stringify(p))).join("\n");
  return content === undefined ? "" : JSON.stringify(content, null, 1);
}
function pre(text, cls) { return h("pre", { class: cls || "" }, text); }

function body(e) {
  switch (e.kind) {
    case "llm_request":
      return [h("div", { class: "muted" }, `${e.model || ""} conversation ${e.conversation ?? ""} call ${e.call ?? ""}`),
        ...(e.system ? [h("details", {}, h("summary", {}, "system"), pre(textOf(e.system)))] : []),
        ...(e.messages || []).map((m) => h("div", { class: "message" }, h("span", { class: "author" }, m.role || ""), pre(textOf(m.parts ?? m.content ?? m), "request-text")))];
    case "llm_response":
      return [h("div", { class: "muted" }, `${e.model || ""} stop ${e.stop || ""}, ${e.duration_ms ?? "?"} ms, $${Number(e.cost_usd || 0).toFixed(5)}`),
        pre(textOf(e.parts), "reply-text")];
    case "tool":
      return [h("div", {}, `${e.family || ""}/${e.name}${e.is_error ? " (error)" : ""}, ${e.duration_ms ?? "?"} ms`), pre("input: " + JSON.stringify(e.input, null, 1)), pre("result: " + textOf(e.result))];
    case "hub_write":
      return [h("div", {}, `${e.write} ${e.hub_id} (step ${e.step})`)];
    case "end":
      return [h("div", {}, `outcome ${e.outcome}, ${e.calls ?? 0} calls, $${Number(e.cost_usd || 0).toFixed(5)}`), ...(e.error ? [pre(String(e.error))] : [])];
    default: {
      const { at_ms, kind, ...rest } = e;
      return [pre(JSON.stringify(rest, null, 1))];
    }
  }
}

async function load() {
  const id = decodeURIComponent(location.pathname.split("/").pop());
  document.getElementById("activation-id").textContent = id;
  const answer = await fetch("/ui/api/activations/" + encodeURIComponent(id));
  const summary = document.getElementById("summary");
  if (!answer.ok) { summary.textContent = `no transcript: ${answer.status}`; return; }
  const data = await answer.json();
  const s = data.summary;
  summary.className = "";
  summary.textContent = `${s.agent}, attempt ${s.attempt} of [${data.attempts.join(", ")}]: ${s.outcome || "in flight"}, $${Number(s.cost_usd).toFixed(5)}, started ${s.started_at}`;
  document.getElementById("entries").replaceChildren(...data.entries.map((e) =>
    h("li", { class: "entry entry-" + e.kind, "data-kind": e.kind }, h("span", { class: "kind" }, e.kind), h("span", { class: "muted" }, `+${e.at_ms} ms`), ...body(e))));
}
load();
