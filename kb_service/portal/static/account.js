// "Your tokens": after a token was created or revoked (a POST answered with the page), a reload
// fetches the page (GET) instead of re-posting the form, which would create another token.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (document.querySelector("[data-after-post]")) {
    window.history.replaceState(null, "", window.location.pathname);
  }
});
