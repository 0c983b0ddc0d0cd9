// hingemarch pages: the light (high-contrast, for sunlight) or dark theme. It follows the phone's
// setting until the toggle picks one, which is remembered on this phone (localStorage).
"use strict";

(function () {
  const KEY = "hingemarch-theme";
  const root = document.documentElement;
  const saved = localStorage.getItem(KEY);
  if (saved === "light" || saved === "dark") root.dataset.theme = saved;
  const current = () => root.dataset.theme || (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");
  const label = (b) => { b.textContent = current() === "light" ? "Dark" : "Light"; };
  document.addEventListener("DOMContentLoaded", () => {
    const b = document.getElementById("theme");
    if (!b) return;
    label(b);
    b.onclick = () => {
      root.dataset.theme = current() === "light" ? "dark" : "light";
      localStorage.setItem(KEY, root.dataset.theme);
      label(b);
      window.dispatchEvent(new Event("themechange"));
    };
  });
})();
