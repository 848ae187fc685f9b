// kb-service portal: small progressive enhancements; every page works without them.
"use strict";

const IN_PROGRESS = new Set(["queued", "parsing", "embedding", "indexing", "paused"]);
const POLL_MS = 1500;

function addMetadataRow(button) {
  const fieldset = button.closest("[data-metadata-rows]");
  const rows = fieldset.querySelectorAll(".meta-row");
  const copy = rows[rows.length - 1].cloneNode(true);
  copy.querySelectorAll("input").forEach((input) => { input.value = ""; });
  fieldset.insertBefore(copy, button);
  copy.querySelector("input").focus();
}

function enableDropzone(zone) {
  const input = zone.querySelector("input[type=file]");
  const hint = zone.querySelector("[data-dropzone-hint]");
  const showChosen = () => {
    const names = [...input.files].map((file) => file.name);
    hint.textContent = names.length ? `Selected: ${names.join(", ")}` : "or drop files here";
  };
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    input.files = event.dataTransfer.files;
    showChosen();
  });
  input.addEventListener("change", showChosen);
}

function pollDocuments(table) {
  const url = table.dataset.documentsUrl;
  const tick = async () => {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    let pending = false;
    for (const item of body.items) {
      const row = table.querySelector(`tr[data-document-id="${item.id}"]`);
      if (!row) continue;
      const badge = row.querySelector("[data-status]");
      badge.textContent = item.status;
      badge.className = `status status-${item.status}`;
      // The reason of a failed or paused document; textContent, never HTML.
      row.querySelector("[data-error]").textContent = item.error ?? "";
      row.querySelector("[data-pages]").textContent = item.pages ?? "—";
      row.querySelector("[data-chunks]").textContent = item.chunks.toLocaleString("en-US");
      pending = pending || IN_PROGRESS.has(item.status);
    }
    if (pending) setTimeout(tick, POLL_MS);
  };
  const anyPending = [...table.querySelectorAll("[data-status]")].some((el) => IN_PROGRESS.has(el.textContent));
  if (anyPending) setTimeout(tick, POLL_MS);
}

// <button data-open-dialog="id"> opens <dialog id>; <button data-close-dialog> closes its dialog.
// Native <dialog>: focus moves into it, Escape closes it, focus returns to the opener.
function enableDialogs() {
  document.querySelectorAll("[data-open-dialog]").forEach((button) => {
    button.addEventListener("click", () => document.getElementById(button.dataset.openDialog).showModal());
  });
  document.querySelectorAll("[data-close-dialog]").forEach((button) => {
    button.addEventListener("click", () => button.closest("dialog").close());
  });
  // A dialog rendered open by the server (a secret shown once, a form with errors) opens modally.
  document.querySelectorAll("dialog[data-open-on-load]").forEach((dialog) => dialog.showModal());
}

// <button data-copy="element id"> copies that element's text (or value) and says so.
function enableCopyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = source.value ?? source.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
        button.textContent = "Copied";
      } catch {
        // No clipboard permission (plain http, old browser): select it for Ctrl+C instead.
        window.getSelection().selectAllChildren(source);
        button.textContent = "Press Ctrl+C to copy";
      }
    });
  });
}

// The CSRF token of the page, for fetch() calls that change something (sent as X-CSRF-Token).
function csrfToken() {
  const field = document.querySelector("input[name=csrf_token]");
  return field ? field.value : "";
}
window.kbPortal = { csrfToken };

document.addEventListener("DOMContentLoaded", () => {
  enableDialogs();
  enableCopyButtons();
  document.querySelectorAll("[data-add-metadata-row]").forEach((button) => {
    button.addEventListener("click", () => addMetadataRow(button));
  });
  document.querySelectorAll("[data-documents-url]").forEach(pollDocuments);
  document.querySelectorAll("[data-dropzone]").forEach(enableDropzone);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
