// Channel editor: forms drawn from GET /api/config/forms, channels saved through
// /api/config/channels with the file version in If-Match. No dependencies, no build step.
// Every text from the server is set with textContent (never parsed as HTML).
"use strict";

(function () {
  const state = { forms: null, channels: [], sources: [], version: null, original: null,
                  source: null, section: null };
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

  function mappingFor(field, path, value) {
    const box = el("fieldset", { className: "group" });
    box.dataset.path = path;
    box.dataset.name = field.name;
    box.dataset.kind = "group";
    box.append(el("legend", { text: field.name }));
    box.append(el("p", { className: "error field-error", "data-error-for": path }));
    const inner = el("div", { className: "group-items" });
    inner.append(...fieldsFor(field.fields, path, value || {}));
    box.append(inner);
    return box;
  }

  function fieldsFor(fields, prefix, values) {
    return fields.map((field) => {
      const path = prefix ? prefix + "." + field.name : field.name;
      if (field.kind === "group_list") return groupFor(field, path, values[field.name]);
      if (field.kind === "group") return mappingFor(field, path, values[field.name]);
      return inputFor(field, path, values[field.name]);
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
      if (target.dataset.kind === "group") {
        const value = readFields(target.querySelector(".group-items"),
                                 out[name] && typeof out[name] === "object" ? out[name] : {});
        if (Object.keys(value).length) out[name] = value; else delete out[name];
      } else if (target.dataset.kind === "group_list") {
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

  // The library browser's way in: play ``name`` on the channel in the form (saved by Save).
  function useCollection(name) {
    let input = $("schedule-fields").querySelector('[data-path="schedule.collection"]');
    if (!input) {
      $("schedule-type").value = "ordered";
      drawSchedule({});
      input = $("schedule-fields").querySelector('[data-path="schedule.collection"]');
    }
    input.value = name;
    input.focus();
  }

  // Where each form shows its errors: its root, the key-path prefix to strip, its box.
  const CHANNEL_CTX = { root: "channel-form", strip: /^channels\[\d+\]\.?/, box: "form-error" };
  const SOURCE_CTX = { root: "source-form", strip: /^sources\[\d+\]\.?/, box: "source-error" };
  // Section fields carry the section name in their paths, as the loader reports them.
  const sectionCtx = () => ({ root: "section-form", strip: /^/, box: "section-error" });

  function clearErrors(ctx) {
    ctx = ctx || CHANNEL_CTX;
    const root = $(ctx.root);
    $(ctx.box).textContent = "";
    for (const node of root.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of root.querySelectorAll(".invalid")) { node.classList.remove("invalid"); node.removeAttribute("aria-invalid"); }
  }

  function showProblems(problems, ctx) {
    clearErrors(ctx);
    const root = $(ctx.root);
    let first = null;
    for (const problem of problems) {
      const path = problem.path.replace(ctx.strip, "");
      const slot = root.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
      if (slot && path && ctx.strip.test(problem.path)) {
        slot.textContent = problem.message;
        const input = root.querySelector(`[data-path="${CSS.escape(path)}"]`);
        if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); first = first || input; }
      } else {
        $(ctx.box).textContent += (problem.path ? problem.path + ": " : "") + problem.message + " ";
      }
    }
    if (first) first.focus();
  }

  function handle(status, data, ctx) {
    ctx = ctx || CHANNEL_CTX;
    if (status === 200) {
      state.version = data.version;
      if (data.channels) state.channels = data.channels;
      if (data.sources) state.sources = data.sources;
      $("conflict").hidden = true;
      renderList();
      renderSources();
      return true;
    }
    if (status === 409 && data.version) {
      $("conflict").hidden = false;
      $("conflict-message").textContent = data.error;
      $("conflict-diff").textContent = data.diff || "(the server no longer has the version this page read)";
      $("conflict-reload").focus();
      return false;
    }
    if (status === 422 && data.problems) { showProblems(data.problems, ctx); return false; }
    $(ctx.box).textContent = data.error || "error " + status;
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

  // -- sources -----------------------------------------------------------------------

  function renderSources() {
    const list = $("source-list");
    list.replaceChildren(...state.sources.map((source) => {
      const item = el("li", { "data-id": source.id });
      if (state.source && state.source.id === source.id) item.className = "current";
      item.append(el("button", { type: "button", className: "pick", text: source.id + " · " + source.type,
        onclick: () => editSource(source) }));
      return item;
    }));
  }

  function drawSourceFields(values) {
    const form = state.forms.sources[$("source-type").value];
    $("source-help").textContent = form ? form.description + " (" + form.plugin + ")" : "";
    $("source-fields").replaceChildren(...(form ? fieldsFor(form.fields, "", values || {}) : []));
  }

  function editSource(source) {
    state.source = source ? JSON.parse(JSON.stringify(source)) : null;
    $("source-form-title").textContent = source ? "Source " + source.id : "New source";
    $("source-id").value = source ? source.id : "";
    $("source-type").value = source ? source.type : "local";
    drawSourceFields(source || {});
    clearErrors(SOURCE_CTX);
    for (const input of $("source-form").querySelectorAll("input, select, textarea")) input.disabled = !admin;
    if (admin) { $("source-delete").hidden = !source; $("source-scan").hidden = !source; }
    renderSources();
  }

  async function saveSource(event) {
    event.preventDefault();
    const type = $("source-type").value;
    const base = state.source && state.source.type === type ? state.source : {};
    const source = Object.assign({ id: $("source-id").value.trim(), type },
                                 readFields($("source-fields"), base));
    source.id = $("source-id").value.trim();
    source.type = type;
    const path = state.source ? "/api/config/sources/" + encodeURIComponent(state.source.id) : "/api/config/sources";
    const { status, data } = await api(state.source ? "PUT" : "POST", path, source);
    if (!handle(status, data, SOURCE_CTX)) return;
    clearErrors(SOURCE_CTX);
    editSource(state.sources.find((s) => s.id === source.id) || source);
    say("Saved source " + source.id + ".");
  }

  async function deleteSource() {
    if (!state.source) return;
    const { status, data } = await api("DELETE", "/api/config/sources/" + encodeURIComponent(state.source.id));
    if (!handle(status, data, SOURCE_CTX)) return;
    say("Deleted source " + state.source.id + ".");
    editSource(null);
  }

  async function scanSource() {
    if (!state.source) return;
    const { status, data } = await api("POST", "/api/sources/" + encodeURIComponent(state.source.id) + "/scan");
    say(status < 400 ? "Scan of " + state.source.id + " started." : (data.error || "scan failed"));
  }

  // -- settings sections ---------------------------------------------------------------

  async function drawSection() {
    const name = $("section-name").value;
    const { status, data } = await api("GET", "/api/config/sections/" + name);
    if (status !== 200) { $("section-error").textContent = data.error; return; }
    state.version = data.version;
    state.section = data.section;
    $("section-fields").replaceChildren(...fieldsFor(state.forms.sections[name], name, data.section));
    clearErrors(sectionCtx(name));
    for (const input of $("section-form").querySelectorAll("input, select, textarea")) input.disabled = !admin;
  }

  async function saveSection(event) {
    event.preventDefault();
    const name = $("section-name").value;
    const section = readFields($("section-fields"), JSON.parse(JSON.stringify(state.section || {})));
    const { status, data } = await api("PUT", "/api/config/sections/" + name, section);
    if (!handle(status, data, sectionCtx(name))) return;
    state.section = data.section;
    clearErrors(sectionCtx(name));
    say("Saved section " + name + (data.applied ? " and applied." : "."));
  }

  async function start() {
    if (!$("channel-form")) return;
    const forms = await api("GET", "/api/config/forms");
    if (forms.status !== 200) { say(forms.data.error); return; }
    state.forms = forms.data;
    if (!(await load())) return;
    const sources = await api("GET", "/api/config/sources");
    state.sources = sources.status === 200 ? sources.data.sources : [];
    $("source-type").replaceChildren(...Object.keys(state.forms.sources).map((t) => el("option", { value: t, text: t })));
    $("source-type").addEventListener("change", () => drawSourceFields({}));
    $("section-name").replaceChildren(...Object.keys(state.forms.sections).map((t) => el("option", { value: t, text: t })));
    $("section-name").addEventListener("change", drawSection);
    await drawSection();
    $("schedule-type").addEventListener("change", () => drawSchedule({}));
    $("conflict-reload").addEventListener("click", async () => { await load(); $("conflict").hidden = true; say("Loaded the current file; save again to apply your form."); });
    if (admin) {
      $("channel-form").addEventListener("submit", save);
      $("delete").addEventListener("click", remove);
      $("new-channel").addEventListener("click", () => edit(null));
      $("source-form").addEventListener("submit", saveSource);
      $("source-delete").addEventListener("click", deleteSource);
      $("source-scan").addEventListener("click", scanSource);
      $("new-source").addEventListener("click", () => editSource(null));
      $("section-form").addEventListener("submit", saveSection);
    }
    editSource(state.sources[0] || null);
    edit(state.channels[0] || null);
    if (window.exstreamtvLibrary) await window.exstreamtvLibrary({ api, say, el, handle, useCollection, channel: () => state.original });
    document.body.dataset.ready = "yes";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
