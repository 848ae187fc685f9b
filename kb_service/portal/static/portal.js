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

document.addEventListener("DOMContentLoaded", () => {
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
