// Keys tab: after a key was created, make a reload fetch the list (GET) instead of re-posting the
// form — that would create another key — and keep the secret out of the page once it is closed.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const dialog = document.querySelector("dialog[data-secret-shown]");
  if (!dialog) return;
  window.history.replaceState(null, "", window.location.pathname);
  dialog.addEventListener("close", () => {
    dialog.querySelectorAll(".secret").forEach((secret) => { secret.textContent = ""; });
  });
});
