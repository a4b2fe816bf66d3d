// Library browser of the channel editor: sources -> shows and folders -> items, from
// /api/library, with search and posters (/artwork, loaded lazily). "Play on channel" puts
// a collection in the channel form's schedule (Save writes it); "Add to channel playlist"
// appends the item to the playlist collection channel-<number> in the config file and
// plays that. No dependencies, no build step; server text is set with textContent only.
"use strict";

window.exstreamtvLibrary = async function (editor) {
  const { api, say, el, handle, useCollection, channel } = editor;
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  const CTX = { root: "library", strip: /^collections\[\d+\]\.?/, box: "library-error" };
  const view = { source: null, group: null, offset: 0 };

  function poster(url, label) {
    return url ? el("img", { src: url, alt: "", loading: "lazy", width: 40, height: 60, "aria-hidden": "true", title: label })
               : el("span", { className: "no-poster", "aria-hidden": "true" });
  }

  function playButton(name, label) {
    return el("button", { type: "button", className: "play", text: "Play on channel",
      "aria-label": "Play " + label + " on the channel", disabled: !name,
      onclick: () => { useCollection(name); say("The schedule now plays " + name + "; save the channel to apply."); } });
  }

  function crumbs() {
    const bar = $("library-path");
    bar.replaceChildren(el("button", { type: "button", text: "Sources", onclick: () => showSources() }));
    if (view.source) {
      bar.append(" › ", el("button", { type: "button", text: view.source.id, onclick: () => showGroups(view.source, 0) }));
    }
    if (view.group) bar.append(" › ", el("span", { text: view.group.name }));
  }

  function pager(total, offset, go) {
    const box = $("library-pages");
    box.replaceChildren();
    if (total <= PAGE) return;
    box.append(el("button", { type: "button", text: "← Previous", disabled: offset === 0, onclick: () => go(offset - PAGE) }),
               el("span", { text: " " + (offset + 1) + "–" + Math.min(offset + PAGE, total) + " of " + total + " " }),
               el("button", { type: "button", text: "Next →", disabled: offset + PAGE >= total, onclick: () => go(offset + PAGE) }));
  }

  async function fetchList(path) {
    const { status, data } = await api("GET", path);
    if (status !== 200) { $("library-error").textContent = data.error || "error " + status; return null; }
    $("library-error").textContent = "";
    return data;
  }

  async function showSources() {
    view.source = null; view.group = null;
    crumbs();
    const data = await fetchList("/api/library/sources");
    if (!data) return;
    $("library-list").replaceChildren(...data.sources.map((source) => el("li", { "data-source": source.id },
      poster(source.poster, source.id),
      el("button", { type: "button", className: "pick", text: source.id + " · " + source.type + " · " + source.items + " items",
        onclick: () => showGroups(source, 0) }),
      playButton(source.collection, "all of " + source.id))));
    pager(0, 0, null);
  }

  const query = () => encodeURIComponent($("library-search").value.trim());

  async function showGroups(source, offset) {
    view.source = source; view.group = null;
    crumbs();
    const data = await fetchList("/api/library/sources/" + encodeURIComponent(source.id) +
                                 "/groups?q=" + query() + "&offset=" + offset + "&limit=" + PAGE);
    if (!data) return;
    const rows = data.groups.map((group) => el("li", { "data-group": group.kind + ":" + group.name },
      poster(group.poster, group.name),
      el("button", { type: "button", className: "pick", text: group.name + " (" + group.kind + ", " + group.count + ")",
        onclick: () => showItems(group, 0) }),
      playButton(group.collection, group.name)));
    rows.unshift(el("li", { "data-group": "" }, el("span", { className: "no-poster" }),
      el("button", { type: "button", className: "pick", text: "Every item of " + source.id, onclick: () => showItems(null, 0) })));
    $("library-list").replaceChildren(...rows);
    pager(data.total, offset, (next) => showGroups(source, next));
  }

  async function showItems(group, offset) {
    view.group = group;
    crumbs();
    const which = group ? "&group=" + encodeURIComponent(group.kind + ":" + group.name) : "";
    const data = await fetchList("/api/library/items?source=" + encodeURIComponent(view.source.id) + which +
                                 "&q=" + query() + "&offset=" + offset + "&limit=" + PAGE);
    if (!data) return;
    $("library-list").replaceChildren(...data.items.map((item) => {
      const seconds = Math.round(item.duration);
      const length = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
      const label = (item.show ? item.show + " · " : "") + item.title + " (" + length + ")";
      return el("li", { "data-item": item.id }, poster(item.poster, item.title), el("span", { className: "pick", text: label }),
        el("button", { type: "button", className: "add", text: "Add to channel playlist",
          "aria-label": "Add " + item.title + " to the channel's playlist", onclick: () => addItem(item) }));
    }));
    pager(data.total, offset, (next) => showItems(group, next));
  }

  async function addItem(item) {
    const current = channel();
    if (!current) { $("library-error").textContent = "Save the channel first: its playlist is named after its number."; return; }
    const name = "channel-" + current.number;
    const listed = await api("GET", "/api/config/collections");
    if (!handle(listed.status, listed.data, CTX)) return;
    const existing = (listed.data.collections || []).find((c) => c.name === name);
    const entry = JSON.stringify(item.query);
    let result;
    if (existing && Array.isArray(existing.items)) {
      if (!existing.items.some((e) => JSON.stringify(e) === entry)) existing.items.push(item.query);
      result = await api("PUT", "/api/config/collections/" + encodeURIComponent(name), existing);
    } else if (existing) {
      $("library-error").textContent = "The collection " + name + " is a smart collection; edit it in the file.";
      return;
    } else {
      result = await api("POST", "/api/config/collections", { name, items: [item.query] });
    }
    if (!handle(result.status, result.data, CTX)) return;
    useCollection(name);
    say("Added " + item.title + " to " + name + "; save the channel to play it.");
  }

  $("library-search").addEventListener("input", () => {
    clearTimeout(view.timer);
    view.timer = setTimeout(() => {
      if (view.group !== null || (view.source && $("library-list").querySelector("[data-item]"))) showItems(view.group, 0);
      else if (view.source) showGroups(view.source, 0);
    }, 250);
  });
  await showSources();
};
