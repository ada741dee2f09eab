/* The header search box: matches as you type, gone through with the keyboard.

   htmx fetches the matches into #search-menu (the input's hx-get). Down from
   the box goes into them, Down and Up move between them, Up from the first
   goes back to the box; Escape closes them; Enter in the box submits the
   form, to the page of every result. "/" anywhere else puts the cursor in
   the box. */
(function () {
  "use strict";

  const form = document.getElementById("site-search");
  if (!form) return;
  const input = form.querySelector("input[name=q]");
  const menu = document.getElementById("search-menu");

  // The results page never writes the query into itself (a search for a
  // hidden name must not carry the name): the box takes it from the address.
  if (window.location.pathname === new URL(form.action).pathname) {
    input.value = new URLSearchParams(window.location.search).get("q") || "";
  }

  function choices() {
    return Array.from(menu.querySelectorAll("a[href], button"));
  }

  function isOpen() {
    return menu.childElementCount > 0;
  }

  function close() {
    htmx.trigger(input, "htmx:abort");
    menu.replaceChildren();
    input.setAttribute("aria-expanded", "false");
  }

  menu.addEventListener("htmx:afterSwap", function () {
    input.setAttribute("aria-expanded", isOpen() ? "true" : "false");
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && isOpen()) {
      const first = choices()[0];
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      close();
    }
  });

  menu.addEventListener("keydown", function (event) {
    const list = choices();
    const at = list.indexOf(document.activeElement);
    if (event.key === "ArrowDown") {
      event.preventDefault();
      list[Math.min(at + 1, list.length - 1)].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (at <= 0 ? input : list[at - 1]).focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
      input.focus();
    }
  });

  // Leaving the box and its menu closes it: Tab onwards, or a click
  // elsewhere (a click does not always move focus: Safari's on a link).
  form.addEventListener("focusout", function (event) {
    if (event.relatedTarget && !form.contains(event.relatedTarget)) close();
  });
  document.addEventListener("click", function (event) {
    if (isOpen() && !form.contains(event.target)) close();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest("input, textarea, select, [contenteditable]")) return;
    event.preventDefault();
    input.focus();
    input.select();
  });
})();
