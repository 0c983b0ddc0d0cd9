// hingemarch live page: one EventSource on /api/live (it reconnects by itself), a canvas trace of the
// leg angle with a line per rep, three command buttons and an exercise selector posting to /api/cmd/<name>.
"use strict";

const view = { state: {}, trace: [], marks: [], sets: [], session: undefined, windowS: 30, lastMsg: 0 };
const $ = (id) => document.getElementById(id);
const fmt = (x, d) => (typeof x === "number" && isFinite(x) ? x.toFixed(d) : "–");

function connect() {
  const es = new EventSource("/api/live");
  es.onopen = () => setLink("live", "on");
  es.onmessage = (e) => { view.lastMsg = Date.now(); apply(JSON.parse(e.data)); };
  es.addEventListener("ping", () => { view.lastMsg = Date.now(); });
  es.onerror = () => {
    setLink("reconnecting…", "off");
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);   // e.g. a 401 or 502
  };
}

function setLink(text, cls) {
  const el = $("link");
  el.textContent = text;
  el.className = "link " + cls;
}

function apply(msg) {
  if (msg.full || msg.session_id !== view.session) view.trace = [];
  view.session = msg.session_id;
  view.windowS = msg.window_s || 30;
  for (const p of msg.trace) view.trace.push(p);
  const last = view.trace.length ? view.trace[view.trace.length - 1][0] : 0;
  while (view.trace.length && view.trace[0][0] < last - view.windowS) view.trace.shift();
  view.state = msg.state || {};
  view.marks = msg.marks || [];
  view.sets = msg.sets || [];
  render();
}

// Sway: the state's own measure when the pipeline gives one, else the last finished set's.
function sway(obj) {
  if (!obj) return null;
  if (typeof obj.sway_deg === "number") return { key: "sway_deg", value: obj.sway_deg };
  for (const k of Object.keys(obj).sort()) {
    if (k.startsWith("sway") && typeof obj[k] === "number") return { key: k, value: obj[k] };
  }
  return null;
}

function render() {
  const s = view.state;
  const lastSet = view.sets.length ? view.sets[view.sets.length - 1] : null;
  let count = "–", caption = "no session running";
  if (s.in_set) {
    count = s.reps_in_set;
    caption = "set " + s.set_index;
  } else if (lastSet) {
    count = lastSet.reps;
    caption = "set " + lastSet.set_index + " done" + (s.running ? "" : " · session ended");
  } else if (s.running) {
    count = 0;
    caption = "waiting for the first rep";
  }
  $("count").textContent = count;
  $("count").className = s.in_set ? "" : "idle";
  $("caption").textContent = caption;
  $("side").textContent = s.side ? s.side + " leg" : "–";
  const ex = $("exercise");       // the choices come with the state; the page lists no names itself
  if (s.exercises && ex.options.length !== s.exercises.length) {
    ex.replaceChildren(...s.exercises.map((n) => new Option(n.replaceAll("_", " "), n)));
  }
  if (s.exercise && document.activeElement !== ex) ex.value = s.exercise;
  $("btn-side").textContent = s.side === "left" ? "Switch to right" : s.side === "right" ? "Switch to left" : "Switch side";
  const rep = s.last_rep || {};
  $("depth").textContent = fmt(rep.hinge_depth_deg, 0);
  $("height").textContent = fmt(rep.march_height_deg, 0);
  $("tempo").textContent = fmt(rep.duration_s, 1);
  const sw = sway(s) || sway(lastSet);
  $("sway").textContent = sw ? fmt(sw.value, 1) + (sw.key.endsWith("_deg") ? "°" : "") : "–";
  $("swaylab").textContent = sw && !sway(s) && lastSet ? "sway, set " + lastSet.set_index : "sway";
  const bar = $("swaybar");
  const pct = sw ? Math.min(100, (Math.abs(sw.value) / 10) * 100) : 0;   // full bar at 10
  bar.style.width = pct + "%";
  bar.className = pct > 60 ? "high" : pct > 30 ? "mid" : "low";
  $("session").textContent = view.session ? "session " + view.session + (s.recording ? " · recording" : "") : "";
  const web = s.web || {};
  $("error").textContent = s.error || (s.sensor_status && s.sensor_status !== "ok" && s.running ? "sensor: " + s.sensor_status : "") || web.error || "";
  draw();
}

function draw() {
  const c = $("trace");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
  }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pts = view.trace;
  const t1 = pts.length ? pts[pts.length - 1][0] : 0, t0 = t1 - view.windowS;
  let span = 90;
  for (const p of pts) if (p[1] !== null && Math.abs(p[1]) > span) span = Math.abs(p[1]);
  const x = (t) => ((t - t0) / view.windowS) * w;
  const y = (a) => h / 2 - (a / span) * (h / 2 - 6);
  g.strokeStyle = "#39424e"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, y(0)); g.lineTo(w, y(0)); g.stroke();
  g.fillStyle = "#7d8794"; g.font = "11px system-ui, sans-serif";
  g.fillText("march", 4, 12); g.fillText("hinge", 4, h - 4);
  g.strokeStyle = "#f0b429"; g.fillStyle = "#f0b429";
  for (const m of view.marks) {
    if (m.t_s < t0) continue;
    g.beginPath(); g.moveTo(x(m.t_s), 0); g.lineTo(x(m.t_s), h); g.stroke();
    g.fillText(String(m.rep_in_set), x(m.t_s) + 3, 24);
  }
  g.strokeStyle = "#4cc9f0"; g.lineWidth = 2.5; g.lineJoin = "round";
  g.beginPath();
  let pen = false;
  for (const [t, a] of pts) {
    if (a === null) { pen = false; continue; }
    if (pen) g.lineTo(x(t), y(a)); else g.moveTo(x(t), y(a));
    pen = true;
  }
  g.stroke();
}

async function command(name, body, label) {
  const toast = $("toast");
  toast.textContent = label + "…";
  try {
    const r = await fetch("/api/cmd/" + name, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    });
    const reply = await r.json();
    toast.textContent = reply.ok ? label + " ✓" : label + ": " + reply.error;
  } catch (e) {
    toast.textContent = label + ": no answer (is the Pi reachable?)";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("btn-new-set").onclick = () => command("new_set", {}, "new set");
  $("btn-undo").onclick = () => command("undo", {}, "undo");
  $("exercise").onchange = (e) => command("exercise", { exercise: e.target.value }, e.target.value.replaceAll("_", " "));
  $("btn-side").onclick = () => {
    const side = view.state.side === "left" ? "right" : "left";
    command("side", { side }, side + " leg");
  };
  window.addEventListener("resize", draw);
  setInterval(() => {       // a link that went silent (Wi-Fi gone without a close): say so
    if (view.lastMsg && Date.now() - view.lastMsg > 15000) setLink("no data…", "off");
  }, 1000);
  connect();
});
