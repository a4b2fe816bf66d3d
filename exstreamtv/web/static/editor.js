// Channel editor: forms drawn from GET /api/config/forms, channels saved through
// /api/config/channels with the file version in If-Match. No dependencies, no build step.
// Every text from the server is set with textContent (never parsed as HTML).
"use strict";

(function () {
  const state = { forms: null, channels: [], version: null, current: null, original: null };
  const admin = document.body.dataset.admin === "yes";
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "for") node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function csrf() {
    const match = document.cookie.match(/(?:^|; )exstreamtv_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, path, body) {
    const headers = { "X-CSRF-Token": csrf() };
    if (state.version && method !== "GET") headers["If-Match"] = '"' + state.version + '"';
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    return { status: response.status, data };
  }

  function say(text) { $("status").textContent = text; }

  // -- reading the list --------------------------------------------------------------

  async function load() {
    const { status, data } = await api("GET", "/api/config/channels");
    if (status !== 200) { say(data.error || "cannot read the channels"); return false; }
    state.channels = data.channels;
    state.version = data.version;
    renderList();
    return true;
  }

  function renderList() {
    const list = $("channel-list");
    list.replaceChildren();
    state.channels.forEach((channel, index) => {
      const item = el("li", { "data-number": String(channel.number) });
      if (state.original && state.original.number === channel.number) item.className = "current";
      item.append(el("button", { type: "button", className: "pick",
        text: channel.number + " · " + channel.name, onclick: () => edit(channel) }));
      if (admin) {
        item.append(el("button", { type: "button", text: "↑", "aria-label": "Move " + channel.name + " up",
          disabled: index === 0, onclick: () => move(index, -1) }));
        item.append(el("button", { type: "button", text: "↓", "aria-label": "Move " + channel.name + " down",
          disabled: index === state.channels.length - 1, onclick: () => move(index, 1) }));
      }
      list.append(item);
    });
  }

  async function move(index, step) {
    const order = state.channels.map((c) => c.number);
    const [moved] = order.splice(index, 1);
    order.splice(index + step, 0, moved);
    const { status, data } = await api("PUT", "/api/config/channels/order", { order });
    if (!handle(status, data)) return;
    say("Order saved.");
    const button = document.querySelector(`#channel-list li[data-number="${moved}"] .pick`);
    if (button) button.focus();
  }

  // -- drawing a form from field descriptions ----------------------------------------

  function inputFor(field, path, value) {
    const id = "f-" + path.replace(/[^A-Za-z0-9]/g, "-");
    const label = el("label", { for: id, text: field.name + (field.required ? " *" : "") + " " });
    let input;
    if (field.kind === "choice" || field.kind === "boolean") {
      input = el("select", { id });
      const choices = field.kind === "boolean" ? ["true", "false"] : field.choices;
      input.append(el("option", { value: "", text: field.default === null ? "—" : "default: " + field.default }));
      for (const choice of choices) input.append(el("option", { value: choice, text: choice }));
      input.value = value === undefined || value === null ? "" : String(value);
    } else {
      input = el("input", { id, type: field.kind === "integer" || field.kind === "number" ? "number" : "text" });
      if (field.kind === "number") input.step = "any";
      if (field.default !== null && field.default !== undefined) input.placeholder = "default: " + JSON.stringify(field.default);
      if (value !== undefined && value !== null) input.value = field.kind === "json" ? JSON.stringify(value) : String(value);
    }
    input.dataset.path = path;
    input.dataset.kind = field.kind;
    input.dataset.name = field.name;
    const wrap = el("div", { className: "field" }, label, input);
    if (field.help) wrap.append(el("p", { className: "help", text: field.help }));
    wrap.append(el("p", { className: "error field-error", "data-error-for": path }));
    return wrap;
  }

  function groupFor(field, path, values) {
    const box = el("fieldset", { className: "group" });
    box.dataset.path = path;
    box.dataset.name = field.name;
    box.dataset.kind = "group_list";
    box.append(el("legend", { text: field.name + (field.required ? " *" : "") }));
    box.append(el("p", { className: "error field-error", "data-error-for": path }));
    const items = el("div", { className: "group-items" });
    box.append(items);
    const add = (value) => {
      const index = items.children.length;
      const item = el("div", { className: "group-item" });
      item.append(...fieldsFor(field.fields, path + "[" + index + "]", value || {}));
      if (admin) {
        item.append(el("button", { type: "button", text: "Remove", "aria-label": "Remove " + field.name + " " + (index + 1),
          onclick: () => { item.remove(); } }));
      }
      items.append(item);
    };
    (values || []).forEach(add);
    if (admin) box.append(el("button", { type: "button", text: "Add " + field.name, onclick: () => add({}) }));
    return box;
  }

  function fieldsFor(fields, prefix, values) {
    return fields.map((field) => {
      const path = prefix ? prefix + "." + field.name : field.name;
      return field.kind === "group_list" ? groupFor(field, path, values[field.name])
                                         : inputFor(field, path, values[field.name]);
    });
  }

  // -- reading a form back into the YAML's shape -------------------------------------

  function readValue(input) {
    const raw = input.value.trim();
    if (raw === "") return undefined;
    switch (input.dataset.kind) {
      case "integer": return Number.isInteger(Number(raw)) ? Number(raw) : raw;
      case "number": return Number.isFinite(Number(raw)) ? Number(raw) : raw;
      case "boolean": return raw === "true";
      case "json": try { return JSON.parse(raw); } catch (e) { return raw; }
      default: return input.value;
    }
  }

  function readFields(container, base) {
    const out = Object.assign({}, base);
    for (const node of container.children) {
      const target = node.matches("fieldset.group") ? node : node.querySelector(":scope > [data-path]");
      if (!target) continue;
      const name = target.dataset.name;
      if (target.dataset.kind === "group_list") {
        const originals = Array.isArray(out[name]) ? out[name] : [];
        const items = [...target.querySelector(".group-items").children].map(
          (item, i) => readFields(item, originals[i] || {}));
        if (items.length) out[name] = items; else delete out[name];
      } else {
        const value = readValue(target);
        if (value === undefined) delete out[name]; else out[name] = value;
      }
    }
    return out;
  }

  function collect() {
    const base = JSON.parse(JSON.stringify(state.original || {}));
    const channel = readFields($("channel-fields"), base);
    const type = $("schedule-type").value;
    const oldSchedule = base.schedule && base.schedule.type === type ? base.schedule : {};
    const schedule = readFields($("schedule-fields"), oldSchedule);
    if (schedule.options && typeof schedule.options === "object" && !state.forms.schedulers[type].fields.some((f) => f.name !== "options")) {
      Object.assign(schedule, schedule.options);
      delete schedule.options;
    }
    channel.schedule = Object.assign({ type }, schedule, { type });
    const ffmpeg = $("ffmpeg").value.trim();
    if (ffmpeg) {
      try { channel.ffmpeg = JSON.parse(ffmpeg); } catch (e) { channel.ffmpeg = ffmpeg; }
    } else delete channel.ffmpeg;
    return channel;
  }

  // -- editing -----------------------------------------------------------------------

  function drawSchedule(values) {
    const type = $("schedule-type").value;
    const form = state.forms.schedulers[type];
    $("schedule-help").textContent = form ? form.description + " (" + form.plugin + ")" : "";
    $("schedule-fields").replaceChildren(...(form ? fieldsFor(form.fields, "schedule", values || {}) : []));
  }

  function edit(channel) {
    state.original = channel ? JSON.parse(JSON.stringify(channel)) : null;
    $("form-title").textContent = channel ? "Channel " + channel.number : "New channel";
    $("channel-fields").replaceChildren(...fieldsFor(state.forms.channel, "", channel || {}));
    const select = $("schedule-type");
    select.replaceChildren(...Object.keys(state.forms.schedulers).map((t) => el("option", { value: t, text: t })));
    select.value = channel && channel.schedule ? channel.schedule.type : "ordered";
    drawSchedule(channel ? channel.schedule : {});
    $("ffmpeg").value = channel && channel.ffmpeg ? JSON.stringify(channel.ffmpeg) : "";
    clearErrors();
    if (admin) $("delete").hidden = !channel;
    for (const input of $("channel-form").querySelectorAll("input, select, textarea")) input.disabled = !admin;
    $("schedule-type").disabled = !admin;
    renderList();
    const first = $("channel-fields").querySelector("input");
    if (first) first.focus();
  }

  function clearErrors() {
    $("form-error").textContent = "";
    for (const node of document.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of document.querySelectorAll(".invalid")) node.classList.remove("invalid");
  }

  function showProblems(problems) {
    clearErrors();
    let first = null;
    for (const problem of problems) {
      const path = problem.path.replace(/^channels\[\d+\]\.?/, "");
      const slot = document.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
      if (slot && path) {
        slot.textContent = problem.message;
        const input = document.querySelector(`[data-path="${CSS.escape(path)}"]`);
        if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); first = first || input; }
      } else {
        $("form-error").textContent += (problem.path ? problem.path + ": " : "") + problem.message + " ";
      }
    }
    if (first) first.focus();
  }

  function handle(status, data) {
    if (status === 200) {
      state.version = data.version;
      state.channels = data.channels;
      $("conflict").hidden = true;
      renderList();
      return true;
    }
    if (status === 409 && data.version) {
      $("conflict").hidden = false;
      $("conflict-message").textContent = data.error;
      $("conflict-diff").textContent = data.diff || "(the server no longer has the version this page read)";
      $("conflict-reload").focus();
      return false;
    }
    if (status === 422 && data.problems) { showProblems(data.problems); return false; }
    $("form-error").textContent = data.error || "error " + status;
    return false;
  }

  async function save(event) {
    event.preventDefault();
    const channel = collect();
    const wasNew = !state.original;
    const path = wasNew ? "/api/config/channels" : "/api/config/channels/" + state.original.number;
    say("Saving…");
    const { status, data } = await api(wasNew ? "POST" : "PUT", path, channel);
    if (!handle(status, data)) { say(""); return; }
    clearErrors();
    const saved = state.channels.find((c) => c.number === channel.number) || channel;
    state.original = JSON.parse(JSON.stringify(saved));
    $("form-title").textContent = "Channel " + saved.number;
    $("delete").hidden = false;
    renderList();
    say("Saved channel " + saved.number + (data.applied ? " and applied." : "; the reload reported: " + data.reload_error));
  }

  async function remove() {
    const button = $("delete");
    if (!state.original) return;
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = "Really delete channel " + state.original.number + "?";
      return;
    }
    button.dataset.confirm = "";
    button.textContent = "Delete";
    const number = state.original.number;
    const { status, data } = await api("DELETE", "/api/config/channels/" + number);
    if (!handle(status, data)) return;
    say("Deleted channel " + number + ".");
    edit(null);
  }

  async function start() {
    if (!$("channel-form")) return;
    const forms = await api("GET", "/api/config/forms");
    if (forms.status !== 200) { say(forms.data.error); return; }
    state.forms = forms.data;
    if (!(await load())) return;
    $("schedule-type").addEventListener("change", () => drawSchedule({}));
    $("conflict-reload").addEventListener("click", async () => { await load(); $("conflict").hidden = true; say("Loaded the current file; save again to apply your form."); });
    if (admin) {
      $("channel-form").addEventListener("submit", save);
      $("delete").addEventListener("click", remove);
      $("new-channel").addEventListener("click", () => edit(null));
    }
    edit(state.channels[0] || null);
    document.body.dataset.ready = "yes";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
