// xmodal search page: plain JS, no build step. State lives in `state`; the URL mirrors the
// text part of it (?q=, ?type=, ?similar=) so a search can be shared and the back button works.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PAGE = 24;
const KIND_LABEL = { image: "Photo", audio: "Audio", text: "Doc", video: "Video" };
const CHIP_LABEL = { image: "Photos", audio: "Recordings", text: "Documents", video: "Videos" };
const SINGULAR = { image: "photo", audio: "recording", text: "document", video: "video" };
const MOMENT = { segment: "said", ocr: "on screen", frame: "seen" }; // how a video moment matched
let collection = null; // items per type, from /api/stats
let limits = null; // what the server accepts, from /api/limits
const SPACE_LABEL = { text: "meaning", clip: "visual", keyword: "keyword" };
const STOP = new Set("the a an and or of to in on at for with is are was were be it this that what which who how where when do does did i you we they my our your me about from by as".split(" "));

const state = {
  q: "", types: [], similar: null, image: null, audio: null, heard: null, view: null, focus: null,
  offset: 0, total: 0, baseCounts: null, controller: null,
};
const mediaStore = new Map(); // history key -> {image, audio, heard, similar}
let lastPush = 0;
let recorder = null;

const els = {
  form: $("#search-form"), q: $("#q"), grid: $("#grid"), status: $("#status"), message: $("#message"),
  chips: $("#chips"), attachments: $("#attachments"), more: $("#more"), drop: $("#drop"),
  imageFile: $("#image-file"), audioFile: $("#audio-file"), record: $("#record"), stats: $("#stats-line"),
};

// ---------- small helpers ----------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}
const plural = (n, kind) => `${n} ${n === 1 ? SINGULAR[kind] : CHIP_LABEL[kind].toLowerCase()}`;
const baseName = (p) => p.split(/[\\/]/).pop();
const fmtTime = (s) => { s = Math.max(0, Math.floor(s || 0)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
function debounce(fn, ms) {
  let t;
  const call = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  call.cancel = () => clearTimeout(t);
  return call;
}
// Any search the user asked for outright (Enter, a filter, a view) drops a pending as-you-type
// one, which would otherwise land a moment later and replace what they asked for.
let cancelTyped = () => {};

// Han, kana and Hangul: written without spaces, so their words are marked wherever they occur.
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3005\u30fc]+/gu;
const IS_CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

// The query's words as the keyword search matches them: Latin words (stopwords out) and CJK
// runs, a short run whole and a longer one as its overlapping two-character pieces.
function queryWords() {
  // The server's echo has filters and "-words" taken out: only what was searched for is marked.
  const text = [state.searched ?? state.q, state.heard].filter(Boolean).join(" ").toLowerCase().normalize("NFKC");
  const words = [];
  for (const run of text.match(CJK_RUN) || []) {
    if (run.length <= 3) words.push(run);
    else for (let i = 0; i + 1 < run.length; i++) words.push(run.slice(i, i + 2));
  }
  const latin = text.replace(CJK_RUN, " ").match(/[\p{L}\p{N}]+/gu) || [];
  words.push(...latin.filter((w) => (w.length > 2 || /\d/.test(w)) && !STOP.has(w)));
  return [...new Set(words)];
}

// Text with the query's words wrapped in <mark>, built as DOM nodes (never innerHTML).
// Latin words mark from a word start to the word's end ("invoice" marks "invoices"); CJK
// pieces mark every place they occur, and touching marks merge ("明年" + "预算" pieces of
// "明年的预算" mark the whole phrase where the text has it).
function highlighted(text, words) {
  const frag = document.createDocumentFragment();
  if (!words.length) { frag.append(text); return frag; }
  const on = new Uint8Array(text.length);
  const latin = words.filter((w) => !IS_CJK.test(w)).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (latin.length) {
    const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${latin.join("|")})[\\p{L}\\p{N}]*`, "giu");
    for (const m of text.matchAll(re)) on.fill(1, m.index, m.index + m[0].length);
  }
  const folded = text.normalize("NFKC").length === text.length ? text.normalize("NFKC") : text;
  for (const w of words.filter((x) => IS_CJK.test(x))) {
    for (let i = folded.indexOf(w); i >= 0; i = folded.indexOf(w, i + 1)) on.fill(1, i, i + w.length);
  }
  let start = 0;
  for (let i = 1; i <= text.length; i++) {
    if (i < text.length && on[i] === on[start]) continue;
    const piece = text.slice(start, i);
    frag.append(on[start] ? h("mark", {}, piece) : piece);
    start = i;
  }
  return frag;
}

// ---------- URL <-> state ----------
function urlFor() {
  const p = new URLSearchParams();
  if (state.view) { p.set("view", state.view); return `/?${p}`; }
  if (state.similar) {
    p.set("similar", state.similar.id);
    if (typeof state.similar.at === "number") p.set("at", state.similar.at.toFixed(2));
  }
  else if (state.q) p.set("q", state.q);
  if (state.types.length) p.set("type", state.types.join(","));
  filters.toParams(p);
  const s = p.toString();
  return s ? `/?${s}` : "/";
}
function remember(mode) {
  const key = Math.random().toString(36).slice(2);
  mediaStore.set(key, { image: state.image, audio: state.audio, heard: state.heard, similar: state.similar });
  const url = urlFor();
  const now = Date.now();
  // Typing pushes one history entry per pause, not one per debounced keystroke.
  const differs = url !== location.pathname + location.search;
  const push = (mode === "push" && (differs || state.image || state.audio))
    || (mode === "type" && differs && now - lastPush > 1500);
  if (push) history.pushState({ key }, "", url);
  else history.replaceState({ key }, "", url);
  if (mode === "type") lastPush = now;
}
function restore(hist) {
  const p = new URLSearchParams(location.search);
  const saved = hist && mediaStore.get(hist.key);
  state.q = p.get("q") || "";
  state.types = (p.get("type") || "").split(",").filter((t) => t in CHIP_LABEL);
  state.view = p.get("view") === "duplicates" ? "duplicates" : null;
  filters.fromUrl(p);
  state.image = saved ? saved.image : null;
  state.audio = saved ? saved.audio : null;
  state.heard = saved ? saved.heard : null;
  const sid = p.get("similar");
  const at = p.get("at") === null ? null : Number(p.get("at"));
  state.similar = sid ? (saved && saved.similar) || { id: Number(sid), name: `item ${sid}`, at: Number.isFinite(at) ? at : null } : null;
  els.q.value = state.q;
}

// ---------- searching ----------
function signature() {
  return JSON.stringify([state.q, state.heard, state.similar && [state.similar.id, state.similar.at], state.image && state.image.url, state.audio && state.audio.url, filters.values]);
}
function hasQuery() { return Boolean(state.q || state.image || state.audio || state.heard || state.similar || filters.count()); }

async function fetchResults(offset, signal) {
  const limit = PAGE;
  if (state.similar) {
    const at = typeof state.similar.at === "number" ? `&at=${state.similar.at.toFixed(2)}` : "";
    const r = await fetch(`/api/items/${state.similar.id}/similar?limit=${limit}&offset=${offset}${at}`, { signal });
    return readJson(r);
  }
  const text = [state.q, state.heard].filter(Boolean).join(" ");
  if (state.image || (state.audio && !state.heard)) {
    const form = new FormData();
    if (text) form.set("q", text);
    if (state.image) form.set("image", state.image.blob, state.image.name);
    if (state.audio && !state.heard) form.set("audio", state.audio.blob, state.audio.name);
    if (state.types.length) form.set("type", state.types.join(","));
    filters.toParams(form);
    form.set("limit", limit); form.set("offset", offset);
    let r;
    try { r = await fetch("/api/search", { method: "POST", body: form, signal }); } catch (err) {
      if (err.name === "AbortError") throw err;
      // A server that refuses a body too big to read closes the connection mid-upload.
      const sent = [state.image, state.audio].filter(Boolean).map((m) => `${m.name} (${megabytes(m.blob.size)})`).join(", ");
      const cap = limits ? ` This server accepts files up to ${megabytes(limits.max_upload_bytes)}.` : "";
      throw new Error(`The connection closed while sending ${sent}.${cap}`);
    }
    return readJson(r);
  }
  const p = new URLSearchParams({ q: text, limit, offset });
  if (state.types.length) p.set("type", state.types.join(","));
  filters.toParams(p);
  return readJson(await fetch(`/api/search?${p}`, { signal }));
}
async function readJson(r) {
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : `the server answered ${r.status}`;
    throw Object.assign(new Error(msg), { status: r.status });
  }
  return body;
}

async function search({ mode = "push", append = false } = {}) {
  if (mode !== "type") cancelTyped();
  if (state.controller) state.controller.abort();
  if (!append) state.offset = 0;
  renderAttachments();
  if (mode) remember(mode);
  if (state.view === "duplicates") { showDuplicates(); return; }
  if (!hasQuery()) { showHome(); return; }
  const controller = new AbortController();
  state.controller = controller;
  const transcribing = Boolean(state.audio && !state.heard);
  setBusy(transcribing ? "Transcribing your question…" : "Searching…");
  try {
    const data = await fetchResults(state.offset, controller.signal);
    if (controller.signal.aborted) return;
    if (data.query && data.query.transcript != null && state.audio) state.heard = data.query.transcript.trim();
    if (state.similar) data.results = filterTypes(data.results);
    render(data, append);
    if (transcribing) { renderAttachments(); remember(null); }
  } catch (err) {
    if (err.name === "AbortError") return;
    showError(err.message);
  } finally {
    if (state.controller === controller) { state.controller = null; els.grid.removeAttribute("aria-busy"); }
  }
}
const filterTypes = (results) => (state.types.length ? results.filter((r) => state.types.includes(r.type)) : results);

// ---------- rendering ----------
function setBusy(text) {
  els.grid.setAttribute("aria-busy", "true");
  els.status.replaceChildren(h("span", { class: "busy", id: "busy" }, h("span", { class: "spinner", "aria-hidden": "true" }), text));
}
function showMessage(kind, title, ...lines) {
  els.grid.replaceChildren();
  els.more.hidden = true;
  els.message.hidden = false;
  els.message.className = `message ${kind}`;
  els.message.replaceChildren(h("h2", {}, title), ...lines.map((l) => (typeof l === "string" ? h("p", {}, l) : l)));
}
function showHome() {
  els.status.replaceChildren();
  els.chips.hidden = true;
  showMessage("home", "Search everything you have collected",
    "Type a few words, drop or paste a picture, or press the microphone and ask.",
    h("p", {}, "Press ", h("kbd", {}, "/"), " to jump to the search box."),
    collection ? h("div", { class: "kinds" }, Object.keys(CHIP_LABEL).map((k) => h("span", { class: `kind ${k}` }, plural(collection[k] || 0, k)))) : null);
}
function showError(message) {
  els.status.replaceChildren();
  showMessage("error", "Something went wrong", message, h("p", {}, h("button", { class: "linkish", type: "button", onclick: () => search({ mode: null }) }, "Try again")));
}

function render(data, append) {
  const results = data.results || [];
  state.searched = data.query && !state.similar ? data.query.text || "" : null;
  const sig = signature();
  if (!state.types.length && !state.similar) state.baseCounts = { sig, counts: data.counts || {} };
  const counts = state.baseCounts && state.baseCounts.sig === sig ? state.baseCounts.counts : data.counts || {};
  renderChips(counts);
  renderStatus(data, counts);
  if (!append) els.grid.replaceChildren();
  if (!results.length && !append) {
    const what = state.similar ? `items like ${state.similar.name}` : state.heard ? `“${state.heard}”` : state.q ? `“${state.q}”` : state.image ? "this picture" : "these filters";
    showMessage("empty", "No matches", `Nothing matched ${what}${state.types.length ? " with this filter" : ""}.`,
      "Try other words, a different picture, or remove the filter.");
    return;
  }
  els.message.hidden = true;
  const words = queryWords();
  if (!append) state.weakShown = false;
  for (const r of results) {
    // The relevance cut-off: results below it are shown, after a divider, as weaker matches.
    if (r.good === false && !state.weakShown) {
      state.weakShown = true;
      els.grid.append(h("p", { class: "weak-divider", role: "separator" }, "Weaker matches"));
    }
    els.grid.append(card(r, words));
  }
  state.offset += results.length;
  els.more.hidden = results.length < PAGE;
}

function renderStatus(data, counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const bits = [];
  if (state.heard) bits.push(h("span", { id: "heard" }, "Heard ", h("q", {}, state.heard)));
  if (data.query && data.query.negative) bits.push(h("span", { id: "negative" }, "Without ", h("q", {}, data.query.negative)));
  if (data.good_matches === 0 && data.results.length) bits.push(h("span", { id: "no-good-match" }, "No good match"));
  bits.push(h("span", {}, `${total || data.results.length} result${(total || data.results.length) === 1 ? "" : "s"}`
    + (typeof data.seconds === "number" ? ` · ${data.seconds.toFixed(2)} s` : "")));
  els.status.replaceChildren(...bits);
}

function renderChips(counts) {
  const kinds = Object.keys(CHIP_LABEL);
  const total = kinds.reduce((a, k) => a + (counts[k] || 0), 0);
  const chip = (label, n, pressed, onclick, kind) =>
    h("button", { type: "button", class: "chip", "aria-pressed": String(pressed), "data-type": kind || "all", disabled: !pressed && n === 0 && kind ? true : null, onclick },
      label, h("span", { class: "n" }, String(n)));
  els.chips.replaceChildren(
    chip("All", total, state.types.length === 0, () => { state.types = []; search(); }),
    ...kinds.map((k) => chip(CHIP_LABEL[k], counts[k] || 0, state.types.length === 1 && state.types[0] === k,
      () => { state.types = state.types.length === 1 && state.types[0] === k ? [] : [k]; search(); }, k)),
  );
  els.chips.hidden = false;
}

function whyList(scores) {
  const entries = Object.entries(scores || {}).sort((a, b) => a[1].rank - b[1].rank);
  if (!entries.length) return null;
  return h("details", { class: "why" }, h("summary", { title: "How each search space ranked this" }, "why?"),
    h("ul", {}, entries.map(([space, s]) => {
      const bar = h("span");
      bar.style.width = `${Math.max(6, 100 / Math.sqrt(s.rank))}%`;
      return h("li", {}, h("span", {}, SPACE_LABEL[space] || space), h("span", { class: "meter", "aria-hidden": "true" }, bar),
        h("span", {}, `#${s.rank} · ${Number(s.score).toFixed(2)}`));
    })));
}

// Photos fill their tile; a banner-like picture (a sign, a receipt) is shown whole instead.
function fitThumb(e) {
  const img = e.target;
  const ratio = img.naturalWidth / Math.max(1, img.naturalHeight);
  if (ratio > 1.7 || ratio < 0.6) img.classList.add("whole");
}

function card(r, words) {
  const name = baseName(r.path);
  const m = r.match || {};
  const body = h("div", { class: "body" });
  const head = h("div", { class: "head" }, h("span", { class: `kind ${r.type}` }, KIND_LABEL[r.type] || r.type),
    h("a", { class: "name", href: r.media_url, target: "_blank", rel: "noopener", title: r.path }, name));
  const el = h("article", { class: `card ${r.type}${r.good === false ? " weak" : ""}`, "data-id": r.id, "data-type": r.type });
  if (r.type === "image") {
    el.append(h("a", { class: "thumb", href: r.media_url, target: "_blank", rel: "noopener", tabindex: "-1", "aria-hidden": "true" },
      h("img", { src: r.thumb_url, alt: name, loading: "lazy", decoding: "async", onload: fitThumb })));
  }
  body.append(head);
  if (r.type === "audio") {
    const start = typeof m.start === "number" ? m.start : 0;
    if (typeof m.start === "number") head.append(h("span", { class: "when" }, `${fmtTime(m.start)}–${fmtTime(m.end)}`));
    const player = h("audio", { controls: true, preload: "metadata", src: start > 0 ? `${r.media_url}#t=${start.toFixed(2)}` : r.media_url, "data-start": start, "aria-label": `Play ${name}` });
    player.addEventListener("loadedmetadata", () => { if (player.currentTime < start - 0.2) player.currentTime = start; }, { once: true });
    body.append(player);
  }
  if (r.type === "video") el.append(videoPlayer(r, name, head));
  if (m.text) body.append(h("p", { class: "snippet" }, highlighted(m.text, words)));
  const meta = metaLine(r);
  if (meta) body.append(meta);
  body.append(h("div", { class: "foot-row" },
    h("button", { type: "button", class: "like", onclick: () => moreLike(r.id, name, r.type === "video" ? m.start : null) }, "More like this"), similarBadge(r), whyList(r.scores)));
  el.append(body);
  return el;
}

// A video result is a moment: the player shows the matched frame and starts where it matched.
function videoPlayer(r, name, head) {
  const m = r.match || {};
  const start = typeof m.start === "number" ? m.start : 0;
  if (typeof m.start === "number") {
    head.append(h("span", { class: "when" }, `${MOMENT[m.kind] || "at"} ${fmtTime(m.start)}–${fmtTime(m.end)}`));
  }
  const player = h("video", { controls: true, preload: "metadata", playsinline: true, poster: r.thumb_url, "data-start": start,
    src: start > 0 ? `${r.media_url}#t=${start.toFixed(2)}` : r.media_url, "aria-label": `Play ${name} from ${fmtTime(start)}` });
  player.addEventListener("loadedmetadata", () => { if (Math.abs(player.currentTime - start) > 0.2) player.currentTime = start; }, { once: true });
  return player;
}

function renderAttachments() {
  const items = [];
  const chip = (visual, label, onremove) => h("span", { class: "attachment" }, visual, h("span", { class: "label" }, label),
    h("button", { type: "button", "aria-label": `Remove ${label}`, onclick: onremove }, "×"));
  if (state.image) items.push(chip(h("img", { src: state.image.url, alt: "" }), state.image.name, () => { state.image = null; search(); }));
  if (state.audio) items.push(chip(h("span", { class: "badge-audio" }, "♪"), state.heard ? `“${state.heard}”` : state.audio.name,
    () => { state.audio = null; state.heard = null; search(); }));
  if (state.similar) {
    const at = typeof state.similar.at === "number" ? ` at ${fmtTime(state.similar.at)}` : "";
    items.push(chip(h("span", { class: "badge-audio" }, "≈"), `Like ${state.similar.name}${at}`, () => { state.similar = null; search(); }));
  }
  els.attachments.replaceChildren(...items);
  els.attachments.hidden = items.length === 0;
}

// ---------- inputs ----------
function moreLike(id, name, at = null) {
  Object.assign(state, { similar: { id, name, at: typeof at === "number" ? at : null }, q: "", image: null, audio: null, heard: null });
  els.q.value = "";
  search();
  window.scrollTo({ top: 0, behavior: "smooth" });
}
const megabytes = (bytes) => `${(bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 1)} MB`;
// Refuse a file the server would refuse, before sending a byte of it.
function tooLarge(blob, name) {
  if (!limits || blob.size <= limits.max_upload_bytes) return false;
  els.status.replaceChildren();
  showMessage("error", "That file is too large",
    `${name} is ${megabytes(blob.size)}; this server accepts files up to ${megabytes(limits.max_upload_bytes)}.`);
  return true;
}
function setImage(file) {
  if (!file || !file.type.startsWith("image/")) return;
  if (tooLarge(file, file.name || "The pasted image")) return;
  state.image = { blob: file, name: file.name || "pasted image", url: URL.createObjectURL(file) };
  state.similar = null;
  search();
}
function setAudio(blob, name) {
  if (tooLarge(blob, name)) return;
  state.audio = { blob, name, url: URL.createObjectURL(blob) };
  state.heard = null; state.similar = null;
  search();
}

async function toggleRecording() {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) { showError("This browser cannot record audio; pick an audio file instead."); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (err) {
    showError(`The microphone is not available (${err.message}). You can pick an audio file instead.`);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.addEventListener("dataavailable", (e) => e.data.size && chunks.push(e.data));
  recorder.addEventListener("stop", () => {
    stream.getTracks().forEach((t) => t.stop());
    els.record.classList.remove("recording");
    els.record.setAttribute("aria-pressed", "false");
    const type = recorder.mimeType || "audio/webm";
    if (chunks.length) setAudio(new Blob(chunks, { type }), "voice question");
  });
  recorder.start();
  els.record.classList.add("recording");
  els.record.setAttribute("aria-pressed", "true");
  els.status.replaceChildren(h("span", { class: "busy" }, "● Listening… press the microphone again to stop"));
  setTimeout(() => recorder && recorder.state === "recording" && recorder.stop(), 30000);
}

const typed = debounce(() => { state.q = els.q.value.trim(); state.similar = null; state.view = null; search({ mode: "type" }); }, 250);
cancelTyped = typed.cancel;
els.q.addEventListener("input", typed);
els.form.addEventListener("submit", (e) => { e.preventDefault(); state.q = els.q.value.trim(); state.similar = null; state.view = null; search(); });
$("#filter-form").addEventListener("submit", (e) => { e.preventDefault(); filters.readForm(); filters.writeForm(); state.view = null; search(); });
$("#f-duration").addEventListener("change", () => $("#filter-form").requestSubmit());
$("#f-clear").addEventListener("click", () => { filters.values = {}; filters.writeForm(); search(); });
$("#dup-link").addEventListener("click", (e) => { e.preventDefault(); Object.assign(state, { view: "duplicates", focus: null }); search(); });
els.q.addEventListener("keydown", (e) => { if (e.key === "Escape" && els.q.value) { els.q.value = ""; typed(); } });
$("#pick-image").addEventListener("click", () => els.imageFile.click());
$("#pick-audio").addEventListener("click", () => els.audioFile.click());
els.imageFile.addEventListener("change", () => { setImage(els.imageFile.files[0]); els.imageFile.value = ""; });
els.audioFile.addEventListener("change", () => { const f = els.audioFile.files[0]; if (f) setAudio(f, f.name); els.audioFile.value = ""; });
els.record.addEventListener("click", toggleRecording);
els.more.addEventListener("click", () => search({ mode: null, append: true }));

document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) { e.preventDefault(); els.q.focus(); }
});
document.addEventListener("paste", (e) => {
  const file = [...(e.clipboardData ? e.clipboardData.files : [])].find((f) => f.type.startsWith("image/"));
  if (file) { e.preventDefault(); setImage(file); }
});
let dragDepth = 0;
document.addEventListener("dragenter", (e) => { if ([...e.dataTransfer.types].includes("Files")) { dragDepth++; els.drop.hidden = false; } });
document.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; els.drop.hidden = true; } });
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => {
  e.preventDefault(); dragDepth = 0; els.drop.hidden = true;
  const file = [...e.dataTransfer.files][0];
  if (!file) return;
  if (file.type.startsWith("image/")) setImage(file);
  else if (file.type.startsWith("audio/")) setAudio(file, file.name);
});
window.addEventListener("popstate", (e) => { restore(e.state); search({ mode: null }); });

fetch("/api/limits").then((r) => (r.ok ? r.json() : null)).then((l) => { limits = l; }).catch(() => {});
fetch("/api/stats").then((r) => (r.ok ? r.json() : null)).then((s) => {
  const c = s && (s.items || s.counts);
  if (c && typeof c === "object") {
    collection = c;
    els.stats.textContent = Object.keys(CHIP_LABEL).map((k) => plural(c[k] || 0, k)).join(" · ");
    if (!hasQuery()) showHome();
  }
}).catch(() => {});

restore(history.state);
search({ mode: "replace" });
if (window.matchMedia("(max-width: 560px)").matches) els.q.placeholder = "Search everything…";
