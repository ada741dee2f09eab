/* Site-wide behaviour: messages, confirmations, htmx errors, focus after swaps. */
(function () {
  "use strict";

  const hivelight = (window.hivelight = window.hivelight || {});

  /* Show a message in the page's live region (read out by screen readers). */
  hivelight.flash = function (message, kind) {
    const area = document.getElementById("flash");
    if (!area) return;
    const p = document.createElement("p");
    p.className = "flash flash-" + (kind || "info");
    p.textContent = message;
    area.replaceChildren(p);
  };

  hivelight.clearFlash = function () {
    const area = document.getElementById("flash");
    if (area) area.replaceChildren();
  };

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  /* Filters apply as soon as a choice is made; the button stays for no-JS use. */
  document.addEventListener("change", function (event) {
    const select = event.target.closest(".board-filters select");
    if (select) select.form.requestSubmit();
  });

  /* A menu closes on Escape and returns focus to its summary. */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const open = event.target.closest("details[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    }
  });

  // Remember where the keyboard was before an htmx action, to return there
  // once the board has been re-drawn.
  let pendingFocus = null;

  /* A part of the page fetching itself again (the board after a change, the
     calendar catching up with live events) is no new action: the message
     about what caused it, a refused move say, must stay to be read. */
  function isRedraw(elt) {
    return elt.id === "board" || elt.id === "activity-calendar";
  }

  /* The one way to re-draw the whole board (#board's hx-get listens). A failed
     re-draw does not ask again: that would repeat for as long as it fails. */
  function redrawBoard(failed) {
    const board = document.getElementById("board");
    if (board && failed !== board) htmx.trigger(document.body, "board-changed");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    const card = elt.closest && elt.closest("[data-task-id]");
    const button = document.activeElement;
    if (card && elt.matches("form")) {
      pendingFocus = {
        taskId: card.dataset.taskId,
        action: button && button.dataset ? button.dataset.moveAction : null,
      };
    } else if (elt.matches && elt.matches("form.quick-add")) {
      pendingFocus = { quickAdd: elt.dataset.status };
    }
    if (!isRedraw(elt)) hivelight.clearFlash();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!pendingFocus || event.detail.target.id !== "board") return;
    const focus = pendingFocus;
    pendingFocus = null;
    if (focus.quickAdd) {
      const input = document.getElementById("quick-add-" + focus.quickAdd);
      if (input) input.focus();
      return;
    }
    const card = document.querySelector('.card[data-task-id="' + focus.taskId + '"]');
    if (!card) return;
    const menu = card.querySelector(".move-menu");
    const again =
      focus.action && card.querySelector('[data-move-action="' + focus.action + '"]');
    if (menu && again) {
      menu.open = true;
      again.focus();
    } else if (menu) {
      menu.querySelector("summary").focus();
    } else {
      card.querySelector(".card-title").focus();
    }
  });

  document.body.addEventListener("announce", function (event) {
    const announcer = document.getElementById("announcer");
    if (announcer && event.detail && event.detail.message) {
      announcer.textContent = event.detail.message;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    // Only plain-text bodies are messages meant for people; others are pages.
    const type = xhr.getResponseHeader("Content-Type") || "";
    const message = type.startsWith("text/plain") && xhr.responseText
      ? xhr.responseText
      : "That could not be done (error " + xhr.status + "). Please reload the page.";
    hivelight.flash(message, "error");
    pendingFocus = null;
    // The board may be out of date (someone else moved a card): re-draw it.
    redrawBoard(event.detail.elt);
  });

  document.addEventListener("htmx:sendError", function (event) {
    hivelight.flash("The server could not be reached. Please try again.", "error");
    // A dragged card still shows where it was dropped: put it back, if the
    // server answers by now.
    redrawBoard(event.detail.elt);
  });
})();
