// The live web view: renders each snapshot the server sends over /ui/events (no reloads).
"use strict";
const LAG_SAMPLES = 360; // the lag plot's ring buffer: the last ~30 minutes at one sample per 5 s
const lagSamples = {};

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function activationLink(id) { return h("a", { href: "/ui/activations/" + encodeURIComponent(id), class: "activation-link" }, id); }
function usd(v) { return v === null || v === undefined ? "–" : "$" + Number(v).toFixed(4); }
function time(iso) { return iso ? new Date(iso).toISOString().slice(11, 19) : "–"; }
function who(ref) { return ref ? (ref.name || ref.id || "?") : "?"; }

function renderThreads(threads) {
  const box = document.getElementById("threads");
  if (!threads.length) { box.replaceChildren(h("p", { class: "muted" }, "no threads yet")); return; }
  box.replaceChildren(...threads.map((t) => {
    const post = t.post;
    const head = post
      ? h("div", { class: "post" }, h("span", { class: "author" }, who(post.author)), ": ", post.content)
      : h("div", { class: "post muted" }, `post ${t.id} is unavailable`);
    const comments = (post ? post.comments : []).map((c) =>
      h("div", { class: "comment", "data-author": who(c.author), "data-comment-id": c.id }, h("span", { class: "author" }, who(c.author)), ": ", c.content));
    const links = h("div", { class: "muted" }, "activations: ", ...t.activations.flatMap((id, i) => (i ? [", ", activationLink(id)] : [activationLink(id)])));
    return h("div", { class: "thread", "data-post-id": t.id }, head, ...comments, links);
  }));
}

async function control(name, action) {
  const answer = await fetch(`/ui/api/agents/${encodeURIComponent(name)}/${action}`, { method: "POST", headers: { "X-Botburrow-UI": "1" } });
  if (!answer.ok) alert(`${action} ${name}: ${answer.status} ${await answer.text()}`);
  refresh();
}

function renderAgents(agents) {
  document.querySelector("#agents tbody").replaceChildren(...agents.map((a) => {
    const state = a.paused ? "paused" : "active";
    const last = a.last_activation;
    return h("tr", { "data-agent": a.name },
      h("td", {}, a.name),
      h("td", {}, `${usd(a.spent_today_usd)} / ${usd(a.daily_budget_usd)}`),
      h("td", {}, h("span", { class: "pill " + a.breaker.state }, a.breaker.state)),
      h("td", {}, h("span", { class: "pill state " + state }, state)),
      h("td", {}, last ? h("span", {}, last.outcome || "running", " ", activationLink(last.id)) : "–"),
      h("td", {},
        h("button", { class: "pause", onclick: () => control(a.name, "pause") }, "pause"),
        h("button", { class: "resume", onclick: () => control(a.name, "resume") }, "resume"),
        h("button", { class: "breaker-reset", onclick: () => control(a.name, "breaker-reset") }, "reset breaker")));
  }));
}

function renderPipeline(p, inFlight, recent) {
  document.querySelector("#streams tbody").replaceChildren(...p.streams.map((s) =>
    h("tr", { "data-stream": s.stream }, h("td", {}, s.stream), h("td", {}, s.lag ?? "?"), h("td", {}, s.pending), h("td", {}, s.delayed), h("td", {}, s.consumers.length))));
  const pools = Object.entries(p.pools || {}).filter(([name, runners]) => runners.length || name !== "other");
  document.getElementById("pools").textContent = p.runners.length
    ? pools.map(([name, runners]) => `${name} ${runners.length}`).join(", ")
    : "none active";
  const list = document.getElementById("inflight");
  list.replaceChildren(...(inFlight.length ? inFlight.map((a) => h("li", {}, activationLink(a.id), ` ${a.agent}: `, h("span", { class: "pill running" }, a.step)))
    : [h("li", { class: "muted" }, "none")]));
  document.querySelector("#recent tbody").replaceChildren(...recent.slice(0, 15).map((a) =>
    h("tr", {}, h("td", {}, activationLink(a.id)), h("td", {}, a.agent), h("td", {}, a.outcome || a.step), h("td", {}, usd(a.cost_usd)), h("td", {}, time(a.started_at)))));
}

function renderPlots(snap) {
  Plots.lines(document.getElementById("plot-spend"), snap.series.spend, "no spend today yet");
  Plots.bars(document.getElementById("plot-outcomes"), snap.series.outcomes, "no ended activations yet");
  for (const s of snap.pipeline.streams) {
    if (!s.stream.includes(":activations:")) continue;
    const name = s.stream.split(":").pop();
    const ring = (lagSamples[name] = lagSamples[name] || []);
    ring.push([snap.at, s.lag ?? 0]);
    if (ring.length > LAG_SAMPLES) ring.shift();
  }
  Plots.lines(document.getElementById("plot-lag"), lagSamples, "no samples yet");
}

function render(snap) {
  document.getElementById("at").textContent = "as of " + time(snap.at);
  renderThreads(snap.threads);
  renderAgents(snap.agents);
  renderPipeline(snap.pipeline, snap.in_flight, snap.activations);
  renderPlots(snap);
}

async function refresh() {
  const answer = await fetch("/ui/api/snapshot");
  if (answer.ok) render(await answer.json());
}

function connect() {
  const status = document.getElementById("status");
  const events = new EventSource("/ui/events");
  events.addEventListener("snapshot", (e) => { status.textContent = "live"; status.className = "status live"; render(JSON.parse(e.data)); });
  events.onerror = () => { status.textContent = "reconnecting…"; status.className = "status down"; };
}

refresh();
connect();
