/* A live board: cards moved, added, edited or deleted by others appear here.

The server sends thin messages to the matter's group:
{kind: "board", matter_id, task_id, event, event_id, status?, from_status?}
(status: the column the card is now in, when the event changed it). This
page re-fetches what changed through the same permission-checked fragments
it is drawn from: the card (data-card-url-template on #board) only when
its column may have changed and the message does not say where it went,
then each affected column (#board's hx-get, ?status=...), keeping the
board's filters. Only a column's cards and count are replaced, so a title
being typed into a quick-add box survives, and focus returns to the card
it was on. Messages arriving together are handled together; while a card
is being dragged the refresh waits for the drop.

After a reconnect the whole board is re-fetched: moves made while the
socket was down are not lost.
*/
(function () {
  "use strict";

  const board = document.getElementById("board");
  const live = window.hivelight && window.hivelight.live;
  if (!board || !live || !board.dataset.matterId) return;

  const matterId = Number(board.dataset.matterId);
  // The board's own columns URL carries its filters (assignee, milestone).
  const columnsUrl = new URL(board.getAttribute("hx-get"), window.location.href);
  // A card's fragment URL, made by the server for task 0 (there is none).
  const cardUrlTemplate = board.dataset.cardUrlTemplate;
  // Events that can put a card in another column (or on the board at all).
  const COLUMN_CHANGING = new Set([
    "task.created",
    "task.started",
    "task.completed",
    "task.reopened",
    "task.status_changed",
  ]);
  const BATCH_MS = 60;

  let pendingStatuses = new Set();
  let pendingCards = new Set();
  let timer = null;
  let running = Promise.resolve();

  function queue(message) {
    const card = document.getElementById("task-" + message.task_id);
    if (card) pendingStatuses.add(card.dataset.status);
    if (message.status) {
      // Where the card went (and came from): no fetch of the card to learn it.
      pendingStatuses.add(message.status);
      if (message.from_status) pendingStatuses.add(message.from_status);
    } else if (
      message.event !== "task.deleted" &&
      (!card || COLUMN_CHANGING.has(message.event))
    ) {
      pendingCards.add(message.task_id);
    }
    clearTimeout(timer);
    timer = setTimeout(flush, BATCH_MS);
  }

  function flush() {
    if (board.querySelector(".is-dragging")) {
      timer = setTimeout(flush, 250);
      return;
    }
    const statuses = pendingStatuses;
    const cards = pendingCards;
    pendingStatuses = new Set();
    pendingCards = new Set();
    // One refresh at a time, in order, so an older answer never wins.
    running = running.then(function () {
      return refresh(statuses, cards);
    });
  }

  function get(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    }).then(function (response) {
      return response.ok ? response.text() : null;
    });
  }

  function withFilters(path, extra) {
    const url = new URL(path, window.location.href);
    columnsUrl.searchParams.forEach(function (value, key) {
      url.searchParams.set(key, value);
    });
    Object.keys(extra || {}).forEach(function (key) {
      url.searchParams.set(key, extra[key]);
    });
    return url.toString();
  }

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function cardUrl(taskId) {
    const at = cardUrlTemplate.lastIndexOf("/0/");
    return (
      cardUrlTemplate.slice(0, at + 1) +
      encodeURIComponent(String(taskId)) +
      cardUrlTemplate.slice(at + 2)
    );
  }

  /* Where a changed card is now: its fragment says (a 404 means gone or hidden). */
  function statusOf(taskId) {
    return get(withFilters(cardUrl(taskId)))
      .then(function (html) {
        const card = html && parse(html).querySelector(".card");
        return card ? card.dataset.status : null;
      })
      .catch(function () {
        return null;
      });
  }

  function refresh(statuses, cards) {
    return Promise.all(Array.from(cards).map(statusOf))
      .then(function (found) {
        found.forEach(function (status) {
          if (status) statuses.add(status);
        });
        return Promise.all(Array.from(statuses).map(refreshColumn));
      })
      .catch(function (error) {
        console.warn("live board refresh failed; re-drawing the board", error);
        resync();
      });
  }

  function refreshColumn(status) {
    const column = document.getElementById("column-" + status);
    if (!column) return null;
    return get(withFilters(columnsUrl.pathname, { status: status })).then(function (html) {
      const fresh = html && parse(html).querySelector(".board-column");
      if (!fresh) return;
      swapColumn(column, fresh);
    });
  }

  /* Replace a column's head and cards, keeping its quick-add form and focus. */
  function swapColumn(column, fresh) {
    const list = column.querySelector(".card-list");
    const freshList = fresh.querySelector(".card-list");
    if (!list || !freshList) return;
    const keep = rememberFocus(list);
    const head = column.querySelector(".column-head");
    const freshHead = fresh.querySelector(".column-head");
    if (head && freshHead) head.replaceWith(freshHead);
    list.replaceChildren.apply(list, Array.from(freshList.childNodes));
    if (window.htmx) window.htmx.process(list);
    restoreFocus(list, keep);
  }

  function rememberFocus(list) {
    const active = document.activeElement;
    const card = active && list.contains(active) ? active.closest(".card") : null;
    const open = Array.from(list.querySelectorAll(".move-menu[open]")).map(function (menu) {
      return menu.closest(".card").dataset.taskId;
    });
    return {
      taskId: card ? card.dataset.taskId : null,
      action: card && active.dataset ? active.dataset.moveAction : null,
      summary: card ? active.matches("summary") : false,
      open: open,
    };
  }

  function restoreFocus(list, keep) {
    keep.open.forEach(function (taskId) {
      const menu = list.querySelector('.card[data-task-id="' + taskId + '"] .move-menu');
      if (menu) menu.open = true;
    });
    if (!keep.taskId) return;
    const card = list.querySelector('.card[data-task-id="' + keep.taskId + '"]');
    if (!card) return;
    const target =
      (keep.action && card.querySelector('[data-move-action="' + keep.action + '"]')) ||
      (keep.summary && card.querySelector(".move-menu summary")) ||
      card.querySelector(".card-title");
    if (target) target.focus();
  }

  function resync() {
    if (window.htmx) window.htmx.trigger(document.body, "board-changed");
  }

  live.on("board", function (message) {
    if (Number(message.matter_id) === matterId) queue(message);
  });
  live.on("resync", resync);
  live.subscribe({ subscribe: "matter", id: matterId });
})();
