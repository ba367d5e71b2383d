// The vramgate calculator page: fills the form from GET /api/options and shows what
// POST /api/estimate answers. No library, no network beyond this server.
"use strict";

const GIB = 1024 ** 3;
const $ = (id) => document.getElementById(id);
const gib = (b) => (b / GIB).toFixed(1) + " GiB";

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text === undefined ? value : text;
  select.appendChild(o);
}

async function init() {
  const r = await fetch("/api/options");
  const opts = await r.json();
  for (const m of opts.models) option($("model"), m);
  option($("gpu"), "", "(default: H100-80GB)");
  for (const g of opts.gpus) option($("gpu"), g.name, `${g.name} (${gib(g.memory_bytes)}, $${g.usd_per_hour}/h)`);
  for (const sel of document.querySelectorAll("select[data-choices]")) {
    option(sel, "", "(default)");
    for (const c of opts.choices[sel.dataset.choices]) option(sel, c);
  }
  for (const radio of document.querySelectorAll("input[name=source]")) {
    radio.addEventListener("change", () => {
      for (const d of document.querySelectorAll(".src")) d.hidden = d.dataset.src !== radio.value;
    });
  }
  $("form").addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
  document.body.dataset.ready = "true";
}

// The fields, named like the vramgate.io/* keys; empty ones are left out (defaults apply).
function fields() {
  const source = document.querySelector("input[name=source]:checked").value;
  const out = {};
  if (source === "architecture") {
    // The annotation's form: key=value pairs joined by commas (README, the annotation contract).
    const parts = [...document.querySelectorAll("[data-arch]")]
      .filter((el) => el.value.trim() !== "")
      .map((el) => `${el.dataset.arch}=${el.value.trim()}`);
    if ($("architecture").value.trim() !== "") parts.push($("architecture").value.trim());
    out.architecture = parts.join(",");
  } else {
    out[source] = $(source).value.trim();
  }
  for (const el of document.querySelectorAll(".grid [name]")) {
    if (el.value.trim() !== "") out[el.name] = el.value.trim();
  }
  return out;
}

async function submit() {
  const body = JSON.stringify({ fields: fields(), plan_gpus: $("plan_gpus").value });
  const r = await fetch("/api/estimate", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  const v = await r.json();
  if (!r.ok) {
    $("result").hidden = true;
    $("error").hidden = false;
    $("error").textContent = (v.problems || [{ field: "", message: v.error }])
      .map((p) => (p.field ? p.field + ": " : "") + p.message).join("\n");
    document.body.dataset.state = "error";
    return;
  }
  $("error").hidden = true;
  show(v);
  document.body.dataset.state = "result";
}

// Resident state, then what is live only at the peak (activations, logits, temporaries),
// then the framework's overhead: the segments add up to the total exactly.
function segments(m) {
  const resident = [
    ["weights", m.weights_bytes],
    ["gradients", m.gradients_bytes],
    ["optimizer states", m.optimizer_states_bytes],
    ["KV cache", m.kv_cache_bytes],
    ["buffers", m.buffers_bytes],
  ];
  const held = resident.reduce((a, [, b]) => a + b, 0);
  return resident.concat([
    ["activations, logits and temporaries at the peak", Math.max(0, m.tensors_peak_bytes - held)],
    ["framework overhead", m.framework_overhead_bytes],
  ]);
}

function show(v) {
  const e = v.report;
  const m = e.per_gpu;
  $("result").hidden = false;
  $("total").textContent = gib(m.total_bytes);
  $("total").dataset.totalBytes = String(m.total_bytes);
  $("capacity").textContent = `${gib(e.gpu_memory_bytes)} on ${e.gpu}`;
  $("decision").textContent = e.decision;
  $("decision").className = e.decision;
  const cost = e.cost_usd == null ? "cost unknown (set training tokens)" : `$${Math.round(e.cost_usd).toLocaleString("en-US")} for ${Math.round(e.gpu_hours).toLocaleString("en-US")} GPU-hours`;
  $("summary").textContent = `${e.model}, ${(e.params / 1e9).toFixed(2)}B parameters${e.coarse ? " (coarse)" : ""}; ${e.workload}, ${e.strategy} on ${e.gpus} x ${e.gpu}; ` +
    (e.min_gpus == null ? `${e.strategy} does not fit at any GPU count; ` : `fits on ${e.min_gpus} GPU(s) with ${e.strategy}; `) + cost;

  const svg = $("bar");
  svg.replaceChildren();
  const legend = $("legend");
  legend.replaceChildren();
  const scale = 1000 / Math.max(m.total_bytes, e.gpu_memory_bytes);
  let x = 0;
  segments(m).forEach(([name, bytes], i) => {
    if (bytes <= 0) return;
    const w = bytes * scale;
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", x); rect.setAttribute("y", 4); rect.setAttribute("width", w); rect.setAttribute("height", 36);
    rect.setAttribute("class", "c" + i);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${name}: ${gib(bytes)}`;
    rect.appendChild(title);
    svg.appendChild(rect);
    x += w;
    const li = document.createElement("li");
    li.innerHTML = `<i class="c${i}"></i>`;
    li.appendChild(document.createTextNode(`${name} ${gib(bytes)}`));
    legend.appendChild(li);
  });
  const cap = document.createElementNS("http://www.w3.org/2000/svg", "line");
  const cx = e.gpu_memory_bytes * scale;
  cap.setAttribute("x1", cx); cap.setAttribute("x2", cx); cap.setAttribute("y1", 0); cap.setAttribute("y2", 44);
  cap.setAttribute("class", "cap");
  svg.appendChild(cap);
  const capli = document.createElement("li");
  capli.textContent = `| GPU memory ${gib(e.gpu_memory_bytes)}`;
  legend.appendChild(capli);

  // The report's `plan`: the best plan under its objective (training: strategy and
  // checkpointing; inference: tensor parallelism or weight quantisation, in `changes`).
  const p = v.report.plan;
  let planText;
  if (p) {
    const how = p.strategy ? ` using ${p.strategy}${p.activation_checkpointing ? " and activation checkpointing" : ""}` : "";
    const cost = p.cost_usd == null ? `, $${p.usd_per_hour.toFixed(2)}/hour` : `, $${Math.round(p.cost_usd).toLocaleString("en-US")}`;
    const time = p.wall_hours == null ? "" : `, ${(p.wall_hours / 24).toFixed(1)} days`;
    const changes = p.changes.length ? ` (set ${p.changes.map(([k, x]) => `vramgate.io/${k}=${x}`).join(", ")})` : "";
    planText = `Fits with ${p.gpus} x ${p.gpu}${how}: ${gib(p.per_gpu_total_bytes)} per GPU${cost}${time}${changes}`;
  } else {
    planText = e.decision === "fits"
      ? "Fits as asked."
      : "No plan fits within the GPU-count limit and the longest plan time (policy.max_plan_hours); vramgate estimate says why.";
  }
  $("plan").textContent = planText;
  $("annotations").textContent = v.annotations_yaml;
  const notes = $("notes");
  notes.replaceChildren();
  for (const n of e.notes || []) { const li = document.createElement("li"); li.textContent = n; notes.appendChild(li); }
}

init().catch((err) => { $("error").hidden = false; $("error").textContent = "cannot load options: " + err; });
