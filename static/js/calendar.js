/* The activity calendar: live increments, keyboard moves, a focus tooltip.

The server draws the grid (templates/events_app/partials/calendar.html) from
the counters. While the page is open, the socket (static/js/live.js) brings
{"kind": "activity", "user_id", "occurred_at", "name"} for each new event of
the person shown; if the event passes the active filter, the cell of its day
in the viewer's timezone goes up by one, and levels, labels and totals are
recomputed with the same rules as events_app/activity.py. After a reconnect
the grid is fetched again, so nothing missed meanwhile stays missing.
*/
(function () {
  "use strict";

  const hivelight = (window.hivelight = window.hivelight || {});
  const formatters = {};
  let subscribedTo = null;

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

  function dayLabel(count, longDate) {
    const amount = count === 0 ? "No events" : count === 1 ? "1 event" : count + " events";
    return amount + " on " + longDate;
  }

  /* Upper bounds of levels 1-3 (quartiles of the non-zero counts), then the
     busiest day's count: as events_app/activity.py. */
  function thresholds(counts) {
    const busy = counts.filter((c) => c > 0).sort((a, b) => a - b);
    if (!busy.length) return [];
    const last = busy.length - 1;
    return [1, 2, 3].map((k) => busy[Math.floor((last * k) / 4)]).concat([busy[last]]);
  }

  function level(count, bounds) {
    if (count <= 0) return 0;
    if (bounds.length && count >= bounds[bounds.length - 1]) return 4;
    return Math.min(4, 1 + bounds.slice(0, 3).filter((bound) => count > bound).length);
  }

  function setCount(cell, count) {
    const label = dayLabel(count, cell.dataset.longDate);
    cell.dataset.count = String(count);
    cell.setAttribute("aria-label", label);
    const title = cell.querySelector("title");
    if (title) title.textContent = label;
  }

  function refresh(root) {
    const all = cells(root);
    const counts = all.map((cell) => Number(cell.dataset.count) || 0);
    const bounds = thresholds(counts);
    let total = 0;
    let active = 0;
    let run = 0;
    let longest = 0;
    let busiest = null;
    all.forEach(function (cell, i) {
      const count = counts[i];
      cell.dataset.level = String(level(count, bounds));
      total += count;
      if (count > 0) {
        active += 1;
        run += 1;
        longest = Math.max(longest, run);
        // Ties go to the later day, as on the server.
        if (!busiest || count >= busiest.count) busiest = { count: count, cell: cell };
      } else {
        run = 0;
      }
    });
    setStat(root, "total", String(total));
    setStat(root, "active", String(active));
    setStat(root, "streak", longest + (longest === 1 ? " day" : " days"));
    setStat(
      root,
      "busiest",
      busiest ? busiest.count + " on " + busiest.cell.dataset.longDate : "None yet"
    );
  }

  function setStat(root, name, text) {
    const el = root.querySelector('[data-stat="' + name + '"]');
    if (el) el.textContent = text;
  }

  function onActivity(payload) {
    const root = calendar();
    if (!root || String(payload.user_id) !== root.dataset.userId) return;
    let filter;
    try {
      filter = JSON.parse(root.dataset.filter);
    } catch (error) {
      return;
    }
    if (!payload.name || !matches(filter, payload.name)) return;
    const day = localDate(payload.occurred_at, root.dataset.tz);
    if (!day) return;
    const cell = root.querySelector('rect.day[data-date="' + day + '"]');
    if (!cell) return; // outside the period shown
    setCount(cell, (Number(cell.dataset.count) || 0) + 1);
    refresh(root);
    cell.classList.remove("is-bumped");
    // Restart the highlight animation (reading a layout value forces it).
    void cell.getBoundingClientRect();
    cell.classList.add("is-bumped");
    if (document.activeElement === cell) showTooltip(root, cell);
  }

  function resync() {
    const root = calendar();
    if (!root || !window.htmx) return;
    window.htmx.ajax("GET", root.dataset.gridUrl, {
      target: "#activity-calendar",
      swap: "outerHTML",
    });
  }

  function subscribe() {
    const root = calendar();
    if (!root || !hivelight.live) return;
    const userId = Number(root.dataset.userId);
    if (subscribedTo === userId) return;
    if (subscribedTo !== null) {
      hivelight.live.unsubscribe({ subscribe: "activity", user_id: subscribedTo });
    }
    hivelight.live.subscribe({ subscribe: "activity", user_id: userId });
    subscribedTo = userId;
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
    else return;
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
    thresholds: thresholds,
    level: level,
  };

  function start() {
    if (!calendar()) return;
    if (hivelight.live) {
      hivelight.live.on("activity", onActivity);
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
