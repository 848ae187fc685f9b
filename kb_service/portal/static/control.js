// Control center: the ⋯ menus, the capacity dialog's live figures, the provision form's live checks and
// its resource specification. The server (and the services behind it) stay the authority: every form
// here also works, and is checked again, without this script.
"use strict";

const fmt = (n) => Number(n).toLocaleString("en-US");
const TYPE_LABELS = { text_generation: "Text generation", embeddings: "Embeddings", knowledge_base: "Knowledge base" };
const CUSTOM_SIZE = "tokens";
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

// --- ⋯ menus: a disclosure button; Enter/Space opens, Escape closes, arrows move between items -------

function enableMenu(wrap) {
  const button = wrap.querySelector(".menu-button");
  const menu = wrap.querySelector(".menu");
  const items = () => [...menu.querySelectorAll("button")];
  const close = (refocus) => {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (refocus) button.focus();
  };
  const open = () => {
    document.querySelectorAll("[data-menu] .menu:not([hidden])").forEach((other) => {
      other.hidden = true;
      other.closest("[data-menu]").querySelector(".menu-button").setAttribute("aria-expanded", "false");
    });
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    items()[0]?.focus();
  };
  button.addEventListener("click", () => (menu.hidden ? open() : close(true)));
  wrap.addEventListener("keydown", (event) => {
    if (menu.hidden) return;
    if (event.key === "Escape") {
      event.preventDefault();
      close(true);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const list = items();
      const at = list.indexOf(document.activeElement);
      const step = event.key === "ArrowDown" ? 1 : -1;
      list[(at + step + list.length) % list.length].focus();
    }
  });
  menu.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-dialog]");
    if (!opener) return;
    close(false);
    // The item that opened the dialog is hidden now: give focus back to the ⋯ button on close.
    document.getElementById(opener.dataset.openDialog).addEventListener("close", () => button.focus(), { once: true });
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !wrap.contains(event.target)) close(false);
  });
  wrap.addEventListener("focusout", (event) => {
    // Tabbing out of the menu closes it (a dialog it opened takes focus the same way).
    if (!menu.hidden && event.relatedTarget && !wrap.contains(event.relatedTarget)) close(false);
  });
}

// --- capacity dialog: new token consumption and balance after, red and unsavable when short ---------

function enableCapacityForm(form) {
  const current = Number(form.dataset.currentTokens);
  const available = Number(form.dataset.available);
  const size = form.querySelector("[data-size]");
  const newTokens = form.querySelector("[data-new-tokens]");
  const after = form.querySelector("[data-balance-after]");
  const save = form.querySelector("[data-save]");
  const short = form.querySelector("[data-short]");
  const update = () => {
    const tokens = size.tagName === "SELECT" ? Number(size.selectedOptions[0].dataset.tokens) : Number(size.value);
    const valid = Number.isInteger(tokens) && tokens >= 1;
    const balance = available - (tokens - current);
    const isShort = valid && balance < 0;
    newTokens.textContent = valid ? fmt(tokens) : "—";
    after.textContent = valid ? fmt(balance) : "—";
    newTokens.classList.toggle("bad", isShort);
    after.classList.toggle("bad", isShort);
    short.hidden = !isShort;
    save.disabled = !valid || isShort;
  };
  size.addEventListener("input", update);
  size.addEventListener("change", update);
  update();
}

// --- provision form -----------------------------------------------------------------------------

function enableProvisionForm(form) {
  const catalog = JSON.parse(document.getElementById("catalog").textContent);
  const prices = JSON.parse(document.getElementById("plan-prices").textContent);
  const field = (name) => form.elements.namedItem(name);
  const type = field("type");
  const region = field("region");
  const models = document.getElementById("f-models");
  const defaultModel = document.getElementById("f-default");
  const plan = field("plan");
  const tokens = document.getElementById("f-tokens");
  const embeddings = document.getElementById("f-embeddings");
  const cri = document.getElementById("f-cri");
  const panel = document.getElementById("live-spec");
  const touched = new Set();
  let sequence = 0;
  let timer = null;

  const syncSections = () => {
    form.querySelectorAll("[data-types]").forEach((box) => {
      const on = box.dataset.types.split(" ").includes(type.value);
      box.hidden = !on;
      box.querySelectorAll("input, select").forEach((el) => { el.disabled = !on; });
    });
    form.querySelector("[data-cri-marker]").disabled = type.value === "knowledge_base";
    tokens.disabled = type.value === "knowledge_base" || plan.value !== CUSTOM_SIZE;
  };

  const syncPlans = () => {
    const chosen = plan.value;
    const options = Object.entries(prices[type.value]).map(
      ([name, cost]) => new Option(`${name} — ${cost} Cloud Tokens / month`, name, false, name === chosen)
    );
    if (type.value !== "knowledge_base") {
      options.push(new Option("Cloud Tokens amount", CUSTOM_SIZE, false, chosen === CUSTOM_SIZE));
    }
    plan.replaceChildren(...options);
  };

  const syncModels = () => {
    const kind = type.value === "embeddings" ? "embeddings" : "text";
    const selected = new Set([...models.selectedOptions].map((o) => o.value));
    models.multiple = type.value === "text_generation";
    const list = catalog[region.value][kind];
    models.replaceChildren(...list.map((m) => new Option(m.name, m.id, false, selected.has(m.id))));
    if (!models.multiple && !list.some((m) => selected.has(m.id))) models.selectedIndex = -1;
    form.querySelector("[data-models-hint]").textContent =
      kind === "embeddings" ? "Exactly one Cohere Embed model." : "One or more; hold Ctrl (⌘) to select several.";
    syncDefault();
  };

  const syncDefault = () => {
    const keep = defaultModel.value;
    const chosen = [...models.selectedOptions];
    const options = [new Option("Choose one of the selected models", "")];
    chosen.forEach((o) => options.push(new Option(o.textContent, o.value, false, o.value === keep)));
    defaultModel.replaceChildren(...options);
    if (chosen.length === 1) defaultModel.value = chosen[0].value;
  };

  const syncEmbeddings = () => {
    let any = false;
    [...embeddings.options].forEach((option) => {
      if (!option.value) return;
      const here = option.dataset.region === region.value;
      option.hidden = !here;
      option.disabled = !here;
      if (!here && option.selected) embeddings.value = "";
      any = any || here;
    });
    form.querySelector("[data-no-embeddings]").hidden = any;
  };

  const problems = () => {
    const found = {};
    const t = type.value;
    if (!field("display_name").value.trim()) found.display_name = "Give the resource a display name.";
    if (t === "text_generation") {
      if (!models.selectedOptions.length) found.models = "Select at least one model.";
      else if (![...models.selectedOptions].some((o) => o.value === defaultModel.value)) {
        found.default_model = "The default model must be one of the selected models.";
      }
    }
    if (t === "embeddings" && models.selectedOptions.length !== 1) found.models = "Select exactly one embeddings model.";
    if (t === "knowledge_base" && !embeddings.value) {
      found.embeddings_resource_id = form.querySelector("[data-no-embeddings]").hidden
        ? "A knowledge base must be linked to an embeddings resource."
        : `No embeddings resource in ${region.value}: provision one first.`;
    }
    if (t !== "knowledge_base" && plan.value === CUSTOM_SIZE) {
      const n = Number(tokens.value);
      if (!Number.isInteger(n) || n < 1) found.size = "Give a whole number of Cloud Tokens, at least 1.";
    }
    if (!field("created_for_name").value.trim()) found.created_for_name = "Say whom the resource is for.";
    if (!EMAIL.test(field("created_for_email").value.trim())) found.created_for_email = "Give a valid email address.";
    return found;
  };

  const showErrors = (found, all) => {
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      const name = slot.dataset.errorFor;
      const message = found[name] && (all || touched.has(name)) ? found[name] : "";
      slot.textContent = message;
      slot.hidden = !message;
    });
  };

  const specRow = (list, label, value, bad = false) => {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    if (bad) dd.classList.add("bad");
    list.append(dt, dd);
  };

  const showSpec = (spec) => {
    const names = new Map(Object.values(catalog).flatMap((kinds) => [...kinds.text, ...kinds.embeddings]).map((m) => [m.id, m.name]));
    const list = document.createElement("dl");
    list.className = "details";
    specRow(list, "Resource type", TYPE_LABELS[spec.type]);
    specRow(list, "Display name", spec.display_name);
    specRow(list, "Region", `${spec.region}${spec.cross_region_inference ? " (cross-region inference)" : ""}`);
    if (spec.models.length) specRow(list, "Models", spec.models.map((id) => names.get(id) || id).join(", "));
    if (spec.default_model) specRow(list, "Default model", names.get(spec.default_model) || spec.default_model);
    specRow(list, "Plan", spec.plan || "Cloud Tokens amount");
    specRow(list, "GenAI units", spec.genai_units_per_month ? `${fmt(spec.genai_units_per_month)} GU / month` : "None of its own");
    specRow(list, "Cloud Tokens", `${fmt(spec.cloud_tokens)} / month`);
    specRow(list, "Balance", `${fmt(spec.balance_before)} → ${fmt(spec.balance_after)}`, spec.balance_after < 0);
    panel.replaceChildren(list);
  };

  const showMessage = (text, bad) => {
    const p = document.createElement("p");
    p.className = bad ? "alert" : "empty";
    p.textContent = text;
    panel.replaceChildren(p);
  };

  const preview = async () => {
    const mine = ++sequence;
    const response = await fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": window.kbPortal.csrfToken(), Accept: "application/json" },
      body: new FormData(form),
    });
    if (mine !== sequence) return; // a later change already asked again
    const body = await response.json().catch(() => ({ error: { message: "The specification could not be loaded." } }));
    if (response.ok) {
      showSpec(body);
      return;
    }
    showMessage(body.error.message, true);
    if (body.error.field && body.error.field !== "form") {
      touched.add(body.error.field);
      showErrors({ ...problems(), [body.error.field]: body.error.message }, false);
    }
  };

  const refresh = () => {
    const found = problems();
    showErrors(found, false);
    clearTimeout(timer);
    if (Object.keys(found).length) {
      showMessage("Complete the form to see the resource specification.", false);
      return;
    }
    timer = setTimeout(preview, 250);
  };

  const touch = (event) => {
    const name = event.target.name === "cloud_tokens" || event.target.name === "plan" ? "size" : event.target.name;
    if (name) touched.add(name);
  };

  type.addEventListener("change", () => {
    if (cri) cri.checked = type.value === "text_generation";
    syncPlans();
    syncSections();
    syncModels();
    syncEmbeddings();
  });
  region.addEventListener("change", () => {
    syncModels();
    syncEmbeddings();
  });
  models.addEventListener("change", syncDefault);
  plan.addEventListener("change", syncSections);
  form.addEventListener("change", (event) => { touch(event); refresh(); });
  form.addEventListener("input", refresh);
  form.addEventListener("focusout", (event) => { touch(event); refresh(); });
  form.addEventListener("submit", (event) => {
    const found = problems();
    if (!Object.keys(found).length) return;
    event.preventDefault();
    showErrors(found, true);
    const first = form.querySelector("[data-error-for]:not([hidden])");
    first?.closest("div")?.querySelector("input, select")?.focus();
  });

  syncSections();
  syncEmbeddings();
  syncDefault();
  if (form.querySelector("[data-error-for]:not([hidden])")) {
    // A refused request came back: keep the server's messages, show the specification once valid.
    Object.keys(problems()).length || preview();
  } else {
    refresh();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-menu]").forEach(enableMenu);
  document.querySelectorAll("form[data-capacity]").forEach(enableCapacityForm);
  const provision = document.getElementById("provision-form");
  if (provision) enableProvisionForm(provision);
});
