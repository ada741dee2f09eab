/* The activity calendar (a person's or a matter's): live re-draws, keyboard
moves, a focus tooltip, a day's events on click or Enter.

The server draws the grid (templates/events_app/partials/calendar.html, the
`activity_grid` and `matter_calendar_grid` views) from the counters: levels,
labels, totals and streaks are worked out there only
(events_app/history/calendar.py). While the page is open, the socket
(static/js/live.js) brings {"kind": data-live, <data-live-field>: data-live-id,
"occurred_at", "name"} for each new event of the person or matter shown
("activity"/"user_id" or "matter_activity"/"matter_id"); if it can change the
grid shown, the grid is fetched again (data-grid-url: the same filter and
period) and swapped in, the days that gained events light up, and the day
that had the keyboard keeps it. After a reconnect the grid is fetched again,
so nothing missed meanwhile stays missing. Picking a day fetches its events
(data-day-url, the same filter) into #calendar-day; a live change to that
day fetches them again.
*/
(function () {
  "use strict";

  const hivelight = (window.hivelight = window.hivelight || {});
  const formatters = {};
  let subscribedTo = null; // the subscribe request last sent, as JSON

  function calendar() {
    return document.getElementById("activity-calendar");
  }

  function cells(root) {
    return Array.prototype.slice.call(root.querySelectorAll("rect.day[data-date]"));
  }

  /* The viewer's local date (YYYY-MM-DD) of a UTC instant, in timezone tz. */
  function localDate(instant, tz) {
    // Date parses milliseconds; the store writes microseconds.
    const moment = new Date(String(instant).replace(/(\.\d{3})\d*Z$/, "$1Z"));
    if (isNaN(moment.getTime())) return null;
    if (!formatters[tz]) {
      formatters[tz] = new Intl.DateTimeFormat("en-CA", {
        timeZone: tz,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
      });
    }
    const parts = {};
    formatters[tz].formatToParts(moment).forEach(function (part) {
      parts[part.type] = part.value;
    });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }

  function matches(filter, name) {
    if (filter.names) return filter.names.indexOf(name) !== -1;
    return name.indexOf(filter.prefix || "") === 0 && filter.exclude.indexOf(name) === -1;
  }

  /* Whether a live event can change the grid shown: the person, the filter
     and the period. Only a guess that saves requests (a narrow filter, or a
     past year, would otherwise re-fetch a year of counts for every event the
     person makes); what the grid shows is the server's answer. */
  function concerns(root, payload) {
    const field = root.dataset.liveField;
    if (payload.kind !== root.dataset.live || !payload.name) return false;
    if (String(payload[field]) !== root.dataset.liveId) return false;
    let filter;
    try {
      filter = JSON.parse(root.dataset.filter);
    } catch (error) {
      return true; // cannot tell: ask the server
    }
    if (!matches(filter, payload.name)) return false;
    const day = localDate(payload.occurred_at, root.dataset.tz);
    // A day outside the period shown has no cell.
    return !day || !!root.querySelector('rect.day[data-date="' + day + '"]');
  }

  /* --- live: the server draws the grid again --------------------------------

  Every request whose answer replaces the grid (these re-fetches and the
  filter form's) is tracked. A re-fetch waits REFETCH_MS after the first
  message of a burst, so a burst costs one request, and never starts while
  another grid request is out; any grid request that starts after a message
  counts for it, and a message arriving during one asks for one more after
  it. Only the newest request's answer is swapped in: an older one (a
  re-fetch overtaken by a new filter) would bring the old filter back. */

  const REFETCH_MS = 400;
  const inFlight = new Set();
  let newest = null;
  let stale = false; // a message arrived that no grid request has covered yet
  let timer = null;

  function isGrid(target) {
    return !!target && target.id === "activity-calendar";
  }

  function schedule() {
    if (timer || inFlight.size) return;
    timer = setTimeout(refetch, REFETCH_MS);
  }

  function refetch() {
    timer = null;
    const root = calendar();
    if (!stale || inFlight.size || !root || !window.htmx) return;
    // Errors are flashed by app.js, as for every htmx request.
    window.htmx
      .ajax("GET", root.dataset.gridUrl, { source: root, target: root, swap: "outerHTML" })
      .catch(function () {});
  }

  function onActivity(payload) {
    const root = calendar();
    if (!root || !concerns(root, payload)) return;
    stale = true;
    schedule();
  }

  /* After a reconnect: whatever happened meanwhile is unknown. */
  function resync() {
    if (!calendar()) return;
    stale = true;
    schedule();
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isGrid(event.detail.target)) return;
    inFlight.add(event.detail.xhr);
    newest = event.detail.xhr;
    stale = false;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (!inFlight.delete(event.detail.xhr)) return;
    if (stale) schedule();
  });

  /* What the person had in the grid before a swap: kept across it. */
  let before = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!isGrid(event.detail.target)) return;
    if (event.detail.xhr !== newest) {
      event.detail.shouldSwap = false;
      return;
    }
    const root = event.detail.target;
    const focused = document.activeElement;
    const stop = root.querySelector('rect.day[tabindex="0"]');
    before = {
      gridUrl: root.dataset.gridUrl,
      counts: new Map(
        cells(root).map(function (cell) {
          return [cell.dataset.date, Number(cell.dataset.count) || 0];
        })
      ),
      focused: focused && root.contains(focused) && focused.dataset ? focused.dataset.date : null,
      stop: stop ? stop.dataset.date : null,
    };
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const root = calendar();
    if (!before || event.target !== root) return;
    const kept = before;
    before = null;
    // The same date keeps the tab stop, and the focus (and so its tooltip).
    const stop = kept.stop && root.querySelector('rect.day[data-date="' + kept.stop + '"]');
    if (stop) {
      cells(root).forEach(function (cell) {
        cell.setAttribute("tabindex", cell === stop ? "0" : "-1");
      });
    }
    const focus = kept.focused && root.querySelector('rect.day[data-date="' + kept.focused + '"]');
    if (focus) focus.focus({ preventScroll: true });
    markPicked(root);
    // Same filter and period: the days that gained events light up.
    if (root.dataset.gridUrl !== kept.gridUrl) {
      // Another filter: a listed day is listed again under it.
      if (pickedDay()) showDay(pickedDay());
      return;
    }
    cells(root).forEach(function (cell) {
      const count = Number(cell.dataset.count) || 0;
      if (count === (kept.counts.get(cell.dataset.date) || 0)) return;
      if (count > (kept.counts.get(cell.dataset.date) || 0)) cell.classList.add("is-bumped");
      if (cell.dataset.date === pickedDay()) showDay(cell.dataset.date);
    });
  });

  /* --- a day's events --------------------------------------------------------- */

  function dayPanel() {
    return document.getElementById("calendar-day");
  }

  function pickedDay() {
    const panel = dayPanel();
    return (panel && panel.dataset.date) || null;
  }

  function markPicked(root) {
    const day = pickedDay();
    cells(root).forEach(function (cell) {
      cell.classList.toggle("is-picked", cell.dataset.date === day);
    });
  }

  function showDay(date) {
    const root = calendar();
    const panel = dayPanel();
    if (!root || !panel || !root.dataset.dayUrl || !window.htmx) return;
    const url = new URL(root.dataset.dayUrl, window.location.href);
    url.searchParams.set("date", date);
    panel.dataset.date = date;
    markPicked(root);
    window.htmx
      .ajax("GET", url.pathname + url.search, { source: root, target: panel, swap: "outerHTML" })
      .catch(function () {});
  }

  document.addEventListener("click", function (event) {
    const cell = event.target.closest && event.target.closest("rect.day[data-date]");
    const root = calendar();
    if (cell && root && root.contains(cell)) showDay(cell.dataset.date);
  });

  function subscribe() {
    const root = calendar();
    if (!root || !hivelight.live || !root.dataset.live) return;
    const request = { subscribe: root.dataset.live };
    request[root.dataset.liveField] = Number(root.dataset.liveId);
    const key = JSON.stringify(request);
    if (subscribedTo === key) return;
    if (subscribedTo !== null) hivelight.live.unsubscribe(JSON.parse(subscribedTo));
    hivelight.live.subscribe(request);
    subscribedTo = key;
  }

  /* --- keyboard: one tab stop, arrows move by day (rows) and week (columns) --- */

  const MOVES = { ArrowUp: -1, ArrowDown: 1, ArrowLeft: -7, ArrowRight: 7 };

  function onKeydown(event) {
    const cell = event.target.closest && event.target.closest("rect.day[data-date]");
    const root = calendar();
    if (!cell || !root || !root.contains(cell)) return;
    const all = cells(root);
    const index = all.indexOf(cell);
    let next = null;
    if (event.key in MOVES) next = all[index + MOVES[event.key]];
    else if (event.key === "Home") next = all[0];
    else if (event.key === "End") next = all[all.length - 1];
    else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      showDay(cell.dataset.date);
      return;
    } else return;
    event.preventDefault();
    if (!next) return;
    cell.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }

  function showTooltip(root, cell) {
    const tip = root.querySelector(".calendar-tooltip");
    if (!tip) return;
    tip.textContent = cell.getAttribute("aria-label");
    tip.hidden = false;
    const box = root.getBoundingClientRect();
    const rect = cell.getBoundingClientRect();
    tip.style.left = rect.left - box.left + rect.width / 2 + "px";
    tip.style.top = rect.top - box.top + "px";
  }

  function hideTooltip(root) {
    const tip = root && root.querySelector(".calendar-tooltip");
    if (tip) tip.hidden = true;
  }

  document.addEventListener("keydown", onKeydown);
  document.addEventListener("focusin", function (event) {
    const cell = event.target.closest && event.target.closest("rect.day[data-date]");
    const root = calendar();
    if (cell && root && root.contains(cell)) showTooltip(root, cell);
  });
  document.addEventListener("focusout", function (event) {
    if (event.target.closest && event.target.closest("rect.day[data-date]")) {
      hideTooltip(calendar());
    }
  });

  hivelight.calendar = {
    localDate: localDate,
    matches: matches,
  };

  function start() {
    if (!calendar()) return;
    if (hivelight.live) {
      hivelight.live.on("activity", onActivity);
      hivelight.live.on("matter_activity", onActivity);
      hivelight.live.on("resync", resync);
    }
    subscribe();
    // A new filter or year swaps the grid in; the person may have changed.
    document.body.addEventListener("htmx:afterSettle", subscribe);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
