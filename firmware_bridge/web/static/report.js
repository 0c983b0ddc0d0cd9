// hingemarch report page: sends the edits (fix a count, delete a rep or the session, a note, undo)
// as JSON to /api/sessions/<id>/edits and reloads the page to show the edited session.
"use strict";

async function send(path, body) {
  const msg = document.getElementById("edit-msg");
  const sid = document.getElementById("report").dataset.session;
  try {
    const r = await fetch("/api/sessions/" + encodeURIComponent(sid) + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const reply = await r.json();
    if (reply.ok) { location.reload(); return; }
    msg.textContent = reply.error;
  } catch (e) {
    msg.textContent = "no answer (is the Pi reachable?)";
  }
  msg.scrollIntoView({ block: "center" });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("[data-edit]")) {
    b.onclick = () => send("/edits", JSON.parse(b.dataset.edit));
  }
  for (const b of document.querySelectorAll("[data-undo]")) {
    b.onclick = () => send("/edits/undo", {});
  }
  for (const f of document.querySelectorAll("form.edit")) {
    f.onsubmit = (e) => {
      e.preventDefault();
      const body = { kind: f.dataset.kind };
      for (const el of f.elements) {
        if (!el.name) continue;
        body[el.name] = el.type === "number" || el.tagName === "SELECT" ? Number(el.value) : el.value;
      }
      send("/edits", body);
    };
  }
});
