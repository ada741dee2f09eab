/* A live board: cards moved, added, edited or deleted by others appear here.

The server sends messages to the matter's group:
{kind: "board", matter_id, task_id, event, event_id, status?, from_status?,
 card?: {html, status, version, assignee_id, milestone_id, order?}, removed?}
`card` is the changed card rendered once for every open board of the
matter (tasks_app/cards.py); this page puts it in place without a request:
it drops it if the page's filters exclude it, places it after the nearest
card it shows in the column's `order`, gives it this page's CSRF token and
address, re-links the Up and Down forms of the columns it touched (their
neighbours under this page's filters) and counts them again. `version`
says when the card last changed: an older card than the one shown is
ignored, and so is one as old as it (one save can send two messages).
`removed`: the card is gone. A message without a card (or a card
without `order`: a very long column) falls back to fetching through the
same permission-checked fragments the board is drawn from: the card
(data-card-url-template on #board) only when its column may have changed
and the message does not say where it went, then each affected column
(#board's hx-get, ?status=...), keeping the board's filters. Only a
column's cards and count are replaced, so a title being typed into a
quick-add box survives, and focus returns to the card it was on. Messages
arriving together are handled together, in order; while a card is
pressed or dragged they wait for the press to end or the drop.

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
  const PRESS_MS = 2000;

  // Filters of this page, as the server validated them (the columns URL).
  const assigneeFilter = columnsUrl.searchParams.get("assignee") || "";
  const milestoneFilter = columnsUrl.searchParams.get("milestone") || "";

  let pending = [];
  let timer = null;
  let running = Promise.resolve();

  function queue(message) {
    pending.push(message);
    clearTimeout(timer);
    timer = setTimeout(flush, BATCH_MS);
  }

  // A card pressed may be about to be dragged: replacing it under the
  // pointer cancels the drag, so messages wait for the press to end as
  // they wait for a drop. At most PRESS_MS, in case its end never comes.
  let pressedAt = null;
  board.addEventListener("pointerdown", function (event) {
    const onCard = event.target.closest && event.target.closest(".card");
    pressedAt = onCard ? performance.now() : null;
  });
  ["pointerup", "pointercancel", "dragstart"].forEach(function (type) {
    document.addEventListener(
      type,
      function () {
        pressedAt = null;
      },
      true,
    );
  });

  function busy() {
    if (pressedAt !== null && performance.now() - pressedAt < PRESS_MS) return true;
    return Boolean(board.querySelector(".is-dragging"));
  }

  function flush() {
    if (busy()) {
      timer = setTimeout(flush, 250);
      return;
    }
    const messages = pending;
    pending = [];
    // One batch at a time, in order, so an older answer never wins.
    running = running.then(function () {
      return handle(messages);
    });
  }

  /* Apply what the messages carry; fetch only what they cannot say. */
  function handle(messages) {
    const statuses = new Set();
    const cards = new Set();
    messages.forEach(function (message) {
      if (apply(message)) return;
      const card = document.getElementById("task-" + message.task_id);
      if (card) statuses.add(card.dataset.status);
      if (message.card) {
        statuses.add(message.card.status);
      } else if (message.status) {
        // Where the card went (and came from): no fetch of the card to learn it.
        statuses.add(message.status);
        if (message.from_status) statuses.add(message.from_status);
      } else if (
        message.event !== "task.deleted" &&
        (!card || COLUMN_CHANGING.has(message.event))
      ) {
        cards.add(message.task_id);
      }
    });
    if (!statuses.size && !cards.size) return null;
    return refresh(statuses, cards);
  }

  function shownHere(card) {
    if (assigneeFilter === "none" && card.assignee_id !== null) return false;
    if (/^\d+$/.test(assigneeFilter) && card.assignee_id !== Number(assigneeFilter)) {
      return false;
    }
    if (/^\d+$/.test(milestoneFilter) && card.milestone_id !== Number(milestoneFilter)) {
      return false;
    }
    return true;
  }

  /* Put a message's card in place (or take it away); false: fetch instead. */
  function apply(message) {
    const existing = document.getElementById("task-" + message.task_id);
    const card = message.card;
    if (!message.removed && !(card && card.order)) return false;
    // The card moved again between the worker's two reads: its column is fetched.
    if (card && card.order.indexOf(Number(message.task_id)) < 0) return false;
    if (card && existing && Number(existing.dataset.version) >= card.version) {
      // Not newer than what this page shows: an event's second message
      // (one save can make two), or one sent before the page was drawn.
      return true;
    }
    const lists = new Set();
    const keep = new Map();
    function touch(list) {
      if (!lists.has(list)) {
        lists.add(list);
        keep.set(list, rememberFocus(list));
      }
    }
    let element = null;
    let list = null;
    if (card && shownHere(card)) {
      const column = document.getElementById("column-" + card.status);
      list = column && column.querySelector(".card-list");
      element = parse(card.html).querySelector(".card");
      if (!list || !element) return false;
      touch(list);
    }
    if (existing) {
      touch(existing.parentNode);
      existing.remove();
    }
    if (element) {
      adopt(element);
      place(list, element, card.order, message.task_id);
      if (window.htmx) window.htmx.process(element);
    }
    lists.forEach(function (changed) {
      relink(changed);
      restoreFocus(changed, keep.get(changed));
    });
    return true;
  }

  /* This page's CSRF token and address in a card rendered for every page. */
  function adopt(element) {
    const token = board.querySelector("input[name=csrfmiddlewaretoken]");
    const here = window.location.pathname + window.location.search;
    element.querySelectorAll("form").forEach(function (form) {
      if (token && !form.querySelector("input[name=csrfmiddlewaretoken]")) {
        form.prepend(token.cloneNode());
      }
      const next = form.querySelector("input[name=next]");
      if (next) next.value = here;
    });
  }

  /* After the nearest card before it in the column's order that is shown here. */
  function place(list, element, order, taskId) {
    const at = order.indexOf(Number(taskId));
    for (let i = at - 1; i >= 0; i--) {
      const before = list.querySelector(':scope > .card[data-task-id="' + order[i] + '"]');
      if (before) {
        before.after(element);
        return;
      }
    }
    list.prepend(element);
  }

  /* Up and Down name each card's neighbours on this page; count the cards. */
  function relink(list) {
    const cards = Array.from(list.querySelectorAll(":scope > .card"));
    cards.forEach(function (card, i) {
      link(card, "before_id", cards[i - 1]);
      link(card, "after_id", cards[i + 1]);
    });
    const empty = list.querySelector(":scope > .column-empty");
    if (cards.length && empty) empty.remove();
    if (!cards.length && !empty) {
      const note = document.createElement("p");
      note.className = "column-empty";
      note.textContent = "No cards";
      list.append(note);
    }
    const count = list.closest(".board-column").querySelector(".column-count");
    if (count) {
      count.textContent = String(cards.length);
      count.setAttribute("aria-label", cards.length + " cards");
    }
  }

  function link(card, field, neighbour) {
    const input = card.querySelector('.move-options input[name="' + field + '"]');
    if (!input) return;
    input.value = neighbour ? neighbour.dataset.taskId : "";
    input.form.hidden = !neighbour;
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
