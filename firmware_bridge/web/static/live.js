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

// A cue on each counted rep, chosen on the page and remembered on this phone: off, a beep, a
// vibration (phones that have one) or the count spoken (the browser's own speech).
const CUES = ["off", "beep", "vibrate", "voice"];
let cue = CUES.includes(localStorage.getItem("hingemarch-cue")) ? localStorage.getItem("hingemarch-cue") : "off";
let audio = null;
let lastCount = null;      // [session, set, reps] seen last: a cue only for a new rep

function repCue(n) {
  if (cue === "beep") {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.2;
    osc.connect(gain).connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.12);
  } else if (cue === "vibrate" && navigator.vibrate) {
    navigator.vibrate(120);
  } else if (cue === "voice" && window.speechSynthesis) {
    speechSynthesis.cancel();
    speechSynthesis.speak(new SpeechSynthesisUtterance(String(n)));
  }
}

function watchReps() {
  const s = view.state, now = [view.session, s.set_index, s.reps_in_set];
  const more = lastCount && now[0] === lastCount[0] && (now[1] === lastCount[1] ? now[2] > lastCount[2] : now[2] > 0);
  if (s.in_set && more) repCue(now[2]);      // a new set's first rep too
  lastCount = now;
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
  view.recorded = !!msg.recorded;
  watchReps();
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
  const rest = restS();
  if (rest !== null) caption += " · rest " + clock(rest);
  $("count").textContent = count;
  $("count").className = s.in_set ? "" : "idle";
  $("caption").textContent = caption;
  const total = view.sets.reduce((n, x) => n + (x.reps || 0), 0) + (s.in_set ? s.reps_in_set || 0 : 0);
  const sets = view.sets.length + (s.in_set ? 1 : 0);
  $("total").textContent = s.running || view.sets.length ? "session: " + total + " reps in " + sets + " set" + (sets === 1 ? "" : "s") : "";
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
  const ended = !s.running && !!view.session;       // the session is over: say so, and where it is now
  $("ended").hidden = !ended;
  $("ended-report").hidden = !(ended && view.recorded);
  if (ended) $("ended-report").href = "/sessions/" + encodeURIComponent(view.session);
  const web = s.web || {};
  $("error").textContent = s.error || (s.sensor_status && s.sensor_status !== "ok" && s.running ? "sensor: " + s.sensor_status : "") || web.error || "";
  draw();
}

// Seconds since the last set ended, while resting between sets of a running session (else null).
function restS() {
  const s = view.state, last = view.sets.length ? view.sets[view.sets.length - 1] : null;
  if (!s.running || s.in_set || !last || typeof s.t_s !== "number") return null;
  return Math.max(0, s.t_s - last.end_s);
}

function clock(t) {
  const m = Math.floor(t / 60), sec = Math.floor(t % 60);
  return m + ":" + String(sec).padStart(2, "0");
}

// What the trace shows when it has no set running: a word instead of a blank.
function traceWord() {
  const s = view.state;
  if (!s.running) return view.session ? "session ended" : "no session running";
  if (s.in_set) return "";
  return view.sets.length ? "between sets · rest " + clock(restS() || 0) : "waiting for the first rep";
}

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

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
  g.strokeStyle = css("--grid"); g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, y(0)); g.lineTo(w, y(0)); g.stroke();
  g.fillStyle = css("--dim"); g.font = "12px system-ui, sans-serif";
  g.fillText("march", 4, 13); g.fillText("hinge", 4, h - 4);
  const word = traceWord();
  if (word) {
    g.font = "600 16px system-ui, sans-serif"; g.textAlign = "center";
    g.fillText(word, w / 2, h / 2 - 10);
    g.textAlign = "start"; g.font = "12px system-ui, sans-serif";
  }
  g.strokeStyle = css("--mark"); g.fillStyle = css("--mark");
  for (const m of view.marks) {
    if (m.t_s < t0) continue;
    g.beginPath(); g.moveTo(x(m.t_s), 0); g.lineTo(x(m.t_s), h); g.stroke();
    g.fillText(String(m.rep_in_set), x(m.t_s) + 3, 24);
  }
  g.strokeStyle = css("--accent"); g.lineWidth = 2.5; g.lineJoin = "round";
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
  const cueButton = $("btn-cue");
  cueButton.textContent = "Rep cue: " + cue;
  cueButton.onclick = () => {
    cue = CUES[(CUES.indexOf(cue) + 1) % CUES.length];
    localStorage.setItem("hingemarch-cue", cue);
    cueButton.textContent = "Rep cue: " + cue;
    if (cue === "beep") { audio = audio || new AudioContext(); audio.resume(); }   // a tap unlocks sound
  };
  window.addEventListener("resize", draw);
  window.addEventListener("themechange", draw);
  setInterval(() => {       // a link that went silent (Wi-Fi gone without a close): say so
    if (view.lastMsg && Date.now() - view.lastMsg > 15000) setLink("no data…", "off");
  }, 1000);
  connect();
});
