namespace CadStream.Serving;

/// <summary>
/// GET /: one self-contained page (plain JS, no build step). Stable element ids for browser tests:
/// model, class, coherence, guidance, steps, seed, count, sample, images, status (plus error).
/// </summary>
public static class ServingPage
{
    public const string Html = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CadStream</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #16181d; color: #e6e6e6; }
  header { padding: 12px 20px; background: #20232b; border-bottom: 1px solid #333; }
  header h1 { margin: 0; font-size: 20px; }
  header span { color: #9aa; font-size: 13px; }
  main { display: flex; flex-wrap: wrap; gap: 20px; padding: 20px; }
  section { background: #20232b; border: 1px solid #333; border-radius: 8px; padding: 16px; }
  #controls { width: 320px; }
  #controls label { display: block; margin: 10px 0 4px; font-size: 13px; color: #bbb; }
  #controls select, #controls input[type=number] { width: 100%; box-sizing: border-box; padding: 5px;
    background: #111; color: #eee; border: 1px solid #444; border-radius: 4px; }
  #controls input[type=range] { width: 100%; }
  button { margin-top: 14px; width: 100%; padding: 9px; font-size: 15px; background: #3b6ff5; color: white;
    border: 0; border-radius: 6px; cursor: pointer; }
  button:disabled { background: #555; cursor: wait; }
  #output { flex: 1; min-width: 320px; }
  #images { display: flex; flex-wrap: wrap; gap: 6px; }
  #images img { width: 112px; height: 112px; image-rendering: pixelated; background: #000; border-radius: 3px; }
  #error { color: #ff7b7b; min-height: 1.2em; font-size: 14px; }
  #meta { color: #9aa; font-size: 13px; margin-bottom: 8px; }
  #status { width: 320px; font-size: 13px; }
  #status table { border-collapse: collapse; width: 100%; }
  #status td { padding: 2px 4px; border-bottom: 1px solid #2c2f38; }
  #status td:first-child { color: #9aa; }
  .value { float: right; color: #eee; }
</style>
</head>
<body>
<header><h1>CadStream</h1> <span>coherence-aware diffusion, learning online</span></header>
<main>
  <section id="controls">
    <label for="model">Model</label>
    <select id="model"></select>
    <label for="class">Class</label>
    <select id="class"></select>
    <label for="coherence">Coherence <span class="value" id="coherence-value">1.00</span></label>
    <input id="coherence" type="range" min="0" max="1" step="0.05" value="1">
    <label for="guidance">Guidance <span class="value" id="guidance-value">1.0</span></label>
    <input id="guidance" type="range" min="0" max="10" step="0.1" value="1">
    <label for="steps">Steps</label>
    <input id="steps" type="number" min="1" max="1000" value="50">
    <label for="seed">Seed (empty = random)</label>
    <input id="seed" type="number" min="0" value="">
    <label for="count">Count</label>
    <input id="count" type="number" min="1" max="64" value="8">
    <button id="sample">Sample</button>
  </section>
  <section id="output">
    <div id="meta">Pick a class and press Sample.</div>
    <div id="error"></div>
    <div id="images"></div>
  </section>
  <section id="status">loading status…</section>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
let models = [];

function show(id, text) { $(id).textContent = text; }

// The body as JSON, or null when it is not JSON (a proxy's error page, an empty answer).
async function readJson(r) {
  const text = await r.text();
  try { return JSON.parse(text); } catch { return null; }
}

// What a failed answer says: the API's {"error": ...}, else the HTTP status text.
function failure(r, data) {
  return r.status + ": " + ((data && data.error) || r.statusText || "request failed");
}

// The numbers beside the sliders, read from the sliders themselves so that the two always agree.
function showSliders() {
  show("coherence-value", Number($("coherence").value).toFixed(2));
  show("guidance-value", Number($("guidance").value).toFixed(1));
}

function fillClasses() {
  const m = models.find(x => x.id === $("model").value);
  const select = $("class");
  select.innerHTML = "";
  if (!m) return;
  m.classes.forEach((name, i) => {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = i + ": " + name;
    select.appendChild(o);
  });
  if (typeof m.defaultGuidance === "number") {
    $("guidance").value = String(m.defaultGuidance);
  }
  showSliders();
}

async function loadModels() {
  try {
    const r = await fetch("/v1/models");
    const data = await readJson(r);
    if (!r.ok || !Array.isArray(data)) { show("error", "could not load models: " + failure(r, data)); return; }
    if (data.length === 0) show("error", "this server serves no models");
    models = data;
    const select = $("model");
    select.innerHTML = "";
    for (const m of models) {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.id + " (" + m.mode + ")";
      select.appendChild(o);
    }
    fillClasses();
  } catch (e) { show("error", "could not load models: " + e); }
}

async function sample() {
  const button = $("sample");
  const model = $("model").value;
  if (!model) { show("error", "no model to sample from"); return; }
  const body = {
    label: Number($("class").value),
    coherence: Number($("coherence").value),
    guidance: Number($("guidance").value),
    steps: Number($("steps").value),
    count: Number($("count").value),
    format: "json"
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  button.disabled = true;
  show("error", "");
  show("meta", "sampling…");
  const started = performance.now();
  try {
    const r = await fetch("/v1/models/" + encodeURIComponent(model) + "/samples", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    });
    const data = await readJson(r);
    if (!r.ok) { show("error", failure(r, data)); show("meta", ""); return; }
    if (!data || !Array.isArray(data.images)) { show("error", "the server's answer has no images"); show("meta", ""); return; }
    const images = $("images");
    images.innerHTML = "";
    for (const b64 of data.images) {
      const img = document.createElement("img");
      img.src = "data:image/png;base64," + b64;
      img.alt = "sample";
      images.appendChild(img);
    }
    show("meta", data.images.length + " image(s) from snapshot v" + data.snapshotVersion + ", seed " + data.seed +
      ", " + ((performance.now() - started) / 1000).toFixed(2) + " s");
  } catch (e) {
    show("error", "request failed: " + e);
  } finally {
    button.disabled = false;
  }
}

function row(name, value) {
  const tr = document.createElement("tr");
  const a = document.createElement("td"); a.textContent = name;
  const b = document.createElement("td"); b.textContent = value === null || value === undefined ? "–" : String(value);
  tr.appendChild(a); tr.appendChild(b);
  return tr;
}

async function pollStatus() {
  try {
    const r = await fetch("/v1/status");
    const s = await r.json();
    const table = document.createElement("table");
    table.appendChild(row("node", s.node.id + " [" + s.node.roles.join(", ") + "]"));
    table.appendChild(row("members", s.cluster.members.length ? s.cluster.members.join(", ") : "–"));
    table.appendChild(row("kafka", s.kafka.bootstrap));
    table.appendChild(row("consumer lag", s.kafka.totalLag));
    for (const m of s.models) {
      table.appendChild(row("model", m.id));
      table.appendChild(row("  snapshot", m.snapshotVersion === null ? "none yet" : "v" + m.snapshotVersion));
      const t = m.training;
      table.appendChild(row("  steps", t ? t.steps : m.steps));
      table.appendChild(row("  samples", t ? t.samplesSeen : m.samplesSeen));
      table.appendChild(row("  loss", t && typeof t.loss === "number" ? t.loss.toFixed(4) : null));
      if (m.lastError) table.appendChild(row("  error", m.lastError));
    }
    const panel = $("status");
    panel.innerHTML = "";
    const title = document.createElement("div");
    title.textContent = "Live status";
    title.style.marginBottom = "6px";
    panel.appendChild(title);
    panel.appendChild(table);
  } catch (e) {
    show("status", "status unavailable: " + e);
  }
}

$("model").addEventListener("change", fillClasses);
$("coherence").addEventListener("input", showSliders);
$("guidance").addEventListener("input", showSliders);
showSliders();
$("sample").addEventListener("click", sample);
loadModels();
pollStatus();
setInterval(pollStatus, 2000);
</script>
</body>
</html>
""";
}
