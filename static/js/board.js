/* Board drag and drop: HTML5 drag events, saved with a POST to the card's move URL.

The card moves in the page while it is dragged; on drop its new neighbours say
where it goes (after the card above it, or before the card below it), the
server saves that, and the board is re-drawn from the server either way
(board-changed, from the server's answer or from app.js on an error).
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

  /* Sent as every other board action is: htmx adds the CSRF token (the
     body's hx-headers) and the live client header (live.js), so the move's
     live echo skips this tab. The server's answer triggers board-changed,
     which re-draws the board; a refusal is flashed and re-drawn by app.js. */
  function save(card, list) {
    const values = { status: list.dataset.status };
    const above = siblingCard(card, "previousElementSibling");
    const below = siblingCard(card, "nextElementSibling");
    if (above) values.after_id = above.dataset.taskId;
    else if (below) values.before_id = below.dataset.taskId;
    card.classList.add("is-saving");
    htmx
      .ajax("POST", card.dataset.moveUrl, { source: card, values: values, swap: "none" })
      .catch(function () {}); // a network failure: htmx:sendError, in app.js
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
