// ExStreamTV dashboard: progress bars, live preview, and the management panels.
// Every value from the server is inserted with textContent, never as HTML.
"use strict";

const authorised = document.body.dataset.authorised === "yes";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)exstreamtv_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function fill(list, items, render) {
  list.replaceChildren(...items.map(render));
  if (!items.length) list.append(el("li", "none"));
}

// -- now playing progress -------------------------------------------------------
function tick() {
  const now = Date.now() / 1000;
  for (const bar of document.querySelectorAll("progress[data-start]")) {
    const start = Number(bar.dataset.start), end = Number(bar.dataset.end);
    bar.value = end > start ? Math.min(1, Math.max(0, (now - start) / (end - start))) : 0;
  }
  for (const mark of document.querySelectorAll(".guide-mark")) {
    if (!mark.textContent) {
      const t = new Date(Number(mark.dataset.time) * 1000);
      mark.textContent = t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
  }
}

// "Show S01E02 Episode title", as the server describes the programme.
function shownTitle(entry) {
  return (entry.programme && entry.programme.display_title) || entry.title;
}

// -- time slots: the slot on now and the next one (time_slots channels) ----------
function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function showSlot(node, slot) {
  if (!node) return;
  node.textContent = slot ? `${slot.name} ${clock(slot.start)}–${clock(slot.end)}` : "";
}

function showSlots() {
  for (const node of document.querySelectorAll("small.slot[data-name]")) {
    showSlot(node, { name: node.dataset.name, start: Number(node.dataset.start),
                     end: Number(node.dataset.end) });
  }
}

async function refreshChannels() {
  try {
    const channels = await api("/api/channels");
    for (const ch of channels) {
      const row = document.querySelector(`tr.channel[data-number="${ch.number}"]`);
      if (!row) continue;
      row.querySelector(".viewers").textContent = ch.viewers;
      if (ch.now) {
        row.querySelector(".now .title").textContent = shownTitle(ch.now);
        const bar = row.querySelector("progress");
        bar.dataset.start = ch.now.start;
        bar.dataset.end = ch.now.end;
      }
      row.querySelector(".next .title").textContent = ch.next ? shownTitle(ch.next) : "—";
      showSlot(row.querySelector(".now .slot"), ch.slot);
      showSlot(row.querySelector(".next .slot"), ch.next_slot);
    }
  } catch (err) { /* the next refresh tries again */ }
}

// -- live preview (hls.js loaded only when a preview opens) ---------------------
let hls = null;
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  return new Promise((resolve, reject) => {
    const script = el("script", null, { src: "/static/vendor/hls.light.min.js" });
    script.onload = () => resolve(window.Hls);
    script.onerror = reject;
    document.head.append(script);
  });
}

async function preview(number) {
  const box = document.getElementById("preview");
  const video = document.getElementById("preview-video");
  const name = document.querySelector(`tr.channel[data-number="${number}"] .channel-name`);
  document.getElementById("preview-title").textContent = `${number} ${name ? name.textContent : ""}`;
  box.hidden = false;
  const url = `/stream/channels/${number}.m3u8`;
  if (hls) { hls.destroy(); hls = null; }
  // hls.js wherever Media Source Extensions exist; native HLS only where they do not (iOS).
  const Hls = window.MediaSource ? await loadHls().catch(() => null) : null;
  if (Hls && Hls.isSupported()) {
    hls = new Hls({ liveDurationInfinity: true });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url;
  }
  video.muted = true;
  video.play().catch(() => {});
}

function closePreview() {
  if (hls) { hls.destroy(); hls = null; }
  const video = document.getElementById("preview-video");
  video.removeAttribute("src");
  video.load();
  document.getElementById("preview").hidden = true;
}

// -- management panels ----------------------------------------------------------
async function refreshSessions() {
  const rows = await api("/api/sessions");
  const body = document.querySelector("#sessions tbody");
  body.replaceChildren(...rows.map((s) => {
    const tr = el("tr");
    tr.append(el("td", s.channel_number), el("td", `${s.client_ip || ""} ${s.user_agent || ""}`),
      el("td", s.state), el("td", `${Math.round(s.bytes_sent / 1024)} KiB`),
      el("td", new Date(s.created_at).toLocaleTimeString()));
    return tr;
  }));
}

async function decide(id, verdict) {
  try { await api(`/api/healing/pending/${encodeURIComponent(id)}/${verdict}`, { method: "POST" }); }
  catch (err) { alert(err.message); }
  refreshPending();
}

async function refreshPending() {
  let items = [];
  try { items = await api("/api/healing/pending"); } catch (err) { return; }
  fill(document.getElementById("pending"), items, (fix) => {
    const li = el("li", `${fix.issue} on channel ${fix.channel ?? "-"}: ${fix.strategy} (risk ${fix.risk}) `,
      { "data-id": fix.id });
    const yes = el("button", "Approve", { class: "approve" });
    const no = el("button", "Reject", { class: "reject" });
    yes.onclick = () => decide(fix.id, "approve");
    no.onclick = () => decide(fix.id, "reject");
    li.append(yes, no);
    return li;
  });
}

async function refreshBackups() {
  let items = [];
  try { items = await api("/api/backups"); } catch (err) { return; }
  fill(document.getElementById("backups"), items, (b) => {
    const li = el("li", `${b.name} (${new Date(b.created * 1000 || b.created).toLocaleString()}, ${Math.round((b.size || 0) / 1024)} KiB) `);
    const restore = el("button", "Restore");
    restore.onclick = async () => {
      if (!confirm(`Restore ${b.name}? The current database is backed up first.`)) return;
      try { await api(`/api/backups/${encodeURIComponent(b.name)}/restore`, { method: "POST" }); }
      catch (err) { alert(err.message); }
      refreshBackups();
    };
    li.append(restore);
    return li;
  });
}

async function refreshPlugins() {
  const items = await api("/api/plugins");
  fill(document.getElementById("plugins"), items, (p) =>
    el("li", `${p.name} (${p.origin})${p.error ? " — failed: " + p.error : ""}`,
      { class: p.error ? "error" : "" }));
}

async function refreshConfig() {
  const status = await api("/api/config/status");
  const dl = document.getElementById("config-status");
  const rows = [["version", status.version], ["last reload", status.last_reload ? new Date(status.last_reload * 1000).toLocaleString() : "never"],
    ["last error", status.last_error || "none"]];
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
}

// A fix event's analysis: probable cause, the plan and why, the evidence (text only).
function analysisDetails(analysis) {
  const details = el("details", null, { class: "analysis" });
  details.append(el("summary", `cause: ${analysis.probable_cause}`));
  if (analysis.chosen) {
    details.append(el("p", `chose ${analysis.chosen.strategy}: ${analysis.reason}`));
  }
  if (analysis.outcome) details.append(el("p", `outcome: ${analysis.outcome}`));
  const evidence = el("ul");
  for (const line of analysis.evidence || []) {
    evidence.append(el("li", `${line.source} ${line.level}: ${line.message}`));
  }
  for (const line of analysis.stderr_tail || []) evidence.append(el("li", `ffmpeg: ${line}`));
  details.append(evidence);
  return details;
}

function listenForLog() {
  const list = document.getElementById("live-log");
  const state = document.getElementById("live-log-state");
  const source = new EventSource("/api/healing/logs/stream");
  const off = () => {
    source.close();
    state.textContent = "Live log is off (ai_auto_heal.realtime_streaming); checking again soon.";
    setTimeout(listenForLog, 15000);
  };
  source.onopen = () => { state.textContent = ""; };
  source.onmessage = (message) => {
    const line = JSON.parse(message.data);
    const when = new Date(line.timestamp * 1000).toLocaleTimeString();
    const where = line.channel === null ? "" : `ch ${line.channel} `;
    list.prepend(el("li", `${when} ${line.level} ${where}${line.source}: ${line.message}`,
      { class: `level-${line.level}` }));
    while (list.children.length > 200) list.lastChild.remove();
  };
  source.addEventListener("end", off);
  source.onerror = off;
}

function listenForEvents() {
  const list = document.getElementById("events");
  const source = new EventSource("/api/events/stream");
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const when = new Date(event.timestamp * 1000).toLocaleTimeString();
    const what = event.message || event.action || event.status || "";
    const item = el("li", `${when} ${event.kind} ${event.issue || event.component || ""} ${event.strategy || ""} ${event.action || ""} ${what}`);
    if (event.kind === "fix" && event.analysis) item.append(analysisDetails(event.analysis));
    list.prepend(item);
    while (list.children.length > 100) list.lastChild.remove();
    if (event.kind === "fix") refreshPending();
    if (event.kind === "session") refreshSessions().catch(() => {});
    if (event.kind === "config") refreshConfig().catch(() => {});
    if (event.kind === "health" && event.component === "server") {
      document.getElementById("health").textContent = event.status;
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  showSlots();
  setInterval(tick, 1000);
  setInterval(refreshChannels, 15000);
  for (const button of document.querySelectorAll(".preview-button")) {
    button.addEventListener("click", () => preview(button.dataset.number));
  }
  document.getElementById("preview-close").addEventListener("click", closePreview);
  if (authorised) {
    for (const refresh of [refreshSessions, refreshPending, refreshBackups, refreshPlugins, refreshConfig]) {
      refresh().catch(() => {});
    }
    setInterval(() => refreshSessions().catch(() => {}), 5000);
    document.getElementById("backup-create").addEventListener("click", async () => {
      try { await api("/api/backups", { method: "POST" }); } catch (err) { alert(err.message); }
      refreshBackups();
    });
    listenForEvents();
    listenForLog();
  }
});
