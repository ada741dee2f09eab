/* Board drag and drop: HTML5 drag events, saved with a POST to the card's move URL.

The card moves in the page while it is dragged; on drop its new neighbours say
where it goes (after the card above it, or before the card below it), the
server saves that, and the board is re-drawn from the server either way.
*/
(function () {
  "use strict";

  const board = document.getElementById("board");
  if (!board) return;

  let dragged = null;
  let origin = null;

  function cards(list) {
    return Array.from(list.querySelectorAll(":scope > .card"));
  }

  /* The card the pointer is above the middle of: the dragged card goes before it. */
  function cardBelow(list, y) {
    return (
      cards(list).find(function (card) {
        if (card === dragged) return false;
        const box = card.getBoundingClientRect();
        return y < box.top + box.height / 2;
      }) || null
    );
  }

  /* Anywhere over a column counts as over its card list. */
  function listUnder(target) {
    const column = target.closest && target.closest(".board-column");
    return column ? column.querySelector(".card-list") : null;
  }

  function siblingCard(card, direction) {
    let node = card[direction];
    while (node && !(node.classList && node.classList.contains("card"))) {
      node = node[direction];
    }
    return node;
  }

  function clearTargets() {
    board.querySelectorAll(".is-drop-target").forEach(function (el) {
      el.classList.remove("is-drop-target");
    });
  }

  function finish() {
    if (dragged) dragged.classList.remove("is-dragging");
    clearTargets();
    dragged = null;
    origin = null;
  }

  function refresh() {
    htmx.trigger(document.body, "board-changed");
  }

  function save(card, list) {
    const body = new URLSearchParams({ status: list.dataset.status });
    const above = siblingCard(card, "previousElementSibling");
    const below = siblingCard(card, "nextElementSibling");
    if (above) body.set("after_id", above.dataset.taskId);
    else if (below) body.set("before_id", below.dataset.taskId);
    card.classList.add("is-saving");
    window.hivelight.clearFlash();
    return fetch(card.dataset.moveUrl, {
      method: "POST",
      credentials: "same-origin",
      // The live headers name this tab, so the move's live echo skips it.
      headers: Object.assign(
        {
          Accept: "application/json",
          "Content-Type": "application/x-www-form-urlencoded",
          "X-CSRFToken": window.hivelight.csrfToken(),
        },
        window.hivelight.live ? window.hivelight.live.headers() : {}
      ),
      body: body,
    })
      .then(function (response) {
        if (response.ok) return;
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            window.hivelight.flash(data.error || "The card could not be moved.", "error");
          });
      })
      .catch(function () {
        window.hivelight.flash("The server could not be reached; the card was put back.", "error");
      })
      .finally(refresh);
  }

  board.addEventListener("dragstart", function (event) {
    const card = event.target.closest && event.target.closest(".card");
    if (!card) return;
    dragged = card;
    origin = { list: card.parentElement, next: card.nextElementSibling };
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.taskId);
    card.classList.add("is-dragging");
  });

  board.addEventListener("dragover", function (event) {
    if (!dragged) return;
    const list = listUnder(event.target);
    if (!list) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!list.classList.contains("is-drop-target")) {
      clearTargets();
      list.classList.add("is-drop-target");
    }
    const below = cardBelow(list, event.clientY);
    if (below) {
      if (below !== dragged.nextElementSibling) list.insertBefore(dragged, below);
    } else if (list.lastElementChild !== dragged) {
      list.appendChild(dragged);
    }
  });

  board.addEventListener("drop", function (event) {
    if (!dragged) return;
    const list = listUnder(event.target);
    if (!list) return;
    event.preventDefault();
    const card = dragged;
    const unmoved = list === origin.list && card.nextElementSibling === origin.next;
    finish();
    if (!unmoved) save(card, list);
  });

  board.addEventListener("dragend", function () {
    if (!dragged) return;
    // Dropped outside a column (or cancelled): put the card back where it was.
    origin.list.insertBefore(dragged, origin.next);
    finish();
  });
})();
