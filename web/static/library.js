// xmodal search page, the library side: metadata filters, metadata on cards, near-duplicate
// groups and the duplicates view. Loaded before app.js; its functions use app.js's helpers
// (h, els, state, search) only when called, after both scripts have run.
"use strict";

const FILTER_KEYS = ["date_from", "date_to", "camera", "place", "min_duration", "max_duration"];

const filters = {
  values: {},
  count() { return Object.keys(this.values).length; },
  // URLSearchParams and FormData both have set(): the same call feeds GET and POST searches.
  toParams(p) { for (const [k, v] of Object.entries(this.values)) p.set(k, v); return p; },
  fromUrl(params) {
    this.values = {};
    for (const k of FILTER_KEYS) { const v = params.get(k); if (v) this.values[k] = v; }
    this.writeForm();
  },
  readForm() {
    const v = {};
    const put = (k, x) => { x = (x || "").trim(); if (x) v[k] = x; };
    put("date_from", $("#f-date-from").value);
    put("date_to", $("#f-date-to").value);
    put("camera", $("#f-camera").value);
    put("place", $("#f-place").value);
    const [lo, hi] = ($("#f-duration").value || "-").split("-");
    put("min_duration", lo);
    put("max_duration", hi);
    this.values = v;
  },
  writeForm() {
    const v = this.values;
    $("#f-date-from").value = v.date_from || "";
    $("#f-date-to").value = v.date_to || "";
    $("#f-camera").value = v.camera || "";
    $("#f-place").value = v.place || "";
    const span = v.min_duration || v.max_duration ? `${v.min_duration || ""}-${v.max_duration || ""}` : "";
    const select = $("#f-duration");
    select.value = [...select.options].some((o) => o.value === span) ? span : "";
    const badge = $("#filter-count");
    badge.textContent = String(this.count());
    badge.hidden = this.count() === 0;
    if (this.count()) $("#filters").open = true;
  },
};

// "1 May 2024, 14:30" from the camera's clock (stored as if UTC, shown as such).
function takenText(iso) {
  const d = new Date(`${iso}Z`);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-GB", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

// One line of what the file says about itself: when, with what, where; length and tags.
function metaLine(r) {
  const m = r.meta || {};
  const bits = [];
  if (m.taken_at) bits.push(h("time", { datetime: m.taken_at, class: "taken" }, takenText(m.taken_at)));
  if (m.camera) bits.push(h("span", { class: "camera" }, m.camera));
  if (m.place) bits.push(h("span", { class: "place", title: m.lat != null ? `${m.lat}, ${m.lon}` : null }, m.place));
  if ((r.type === "audio" || r.type === "video") && m.duration) bits.push(h("span", { class: "duration" }, fmtTime(m.duration)));
  const tags = [m.artist, m.title].filter(Boolean).join(" – ");
  if (tags) bits.push(h("span", { class: "tags" }, tags));
  if (!bits.length) return null;
  const line = h("p", { class: "meta" });
  bits.forEach((b, i) => { if (i) line.append(" · "); line.append(b); });
  return line;
}

// "+2 similar": near-identical photos folded into this result; opens their group.
function similarBadge(r) {
  if (!r.similar || !r.similar.length) return null;
  return h("button", { type: "button", class: "similar-count", title: "Near-identical photos shown once",
    onclick: () => { Object.assign(state, { view: "duplicates", focus: r.id }); search(); } },
  `+${r.similar.length} similar`);
}

async function showDuplicates() {
  setBusy("Looking for near-identical photos…");
  els.chips.hidden = true;
  els.more.hidden = true;
  try {
    const data = await readJson(await fetch("/api/duplicates"));
    els.status.replaceChildren(h("span", {}, `${data.groups.length} group${data.groups.length === 1 ? "" : "s"} of near-identical photos · ${data.photos} photos`));
    els.grid.replaceChildren();
    if (!data.groups.length) {
      showMessage("empty", "No near-identical photos", "Every photo in the collection is different from the others.");
      return;
    }
    els.message.hidden = true;
    let focused = null;
    els.grid.append(...data.groups.map((g) => {
      const ids = g.items.map((d) => d.id);
      const group = h("section", { class: "dup-group", "data-ids": ids.join(",") },
        h("h2", {}, `${g.items.length} copies`),
        h("div", { class: "dup-row" }, g.items.map((d, i) => h("figure", { class: "dup", "data-id": d.id },
          h("a", { href: d.media_url, target: "_blank", rel: "noopener" }, h("img", { src: d.thumb_url, alt: baseName(d.path), loading: "lazy" })),
          h("figcaption", {}, h("span", { class: "name", title: d.path }, baseName(d.path)),
            h("span", {}, `${d.width && d.height ? `${d.width}×${d.height} · ` : ""}${Math.round((d.size || 0) / 1024)} KB`),
            i === 0 ? h("span", { class: "kind image" }, "largest") : null)))));
      if (state.focus && ids.includes(state.focus)) { group.classList.add("focus"); focused = group; }
      return group;
    }));
    if (focused) focused.scrollIntoView({ block: "center" });
  } catch (err) {
    showError(err.message);
  } finally {
    els.grid.removeAttribute("aria-busy");
  }
}
