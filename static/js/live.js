/* Live pages: one websocket per tab, the notifications bell and toasts.

The socket (base.html's <body data-live-url>) joins the user's own group on
the server; pages ask for more with
hivelight.live.subscribe({subscribe: "matter", id: 3}).
Subscriptions are remembered and asked for again after a reconnect, and
handlers registered with hivelight.live.on("resync", fn) run then, so a
page can re-fetch what it may have missed while the socket was down.

Echo suppression: the server's "hello" names this tab's channel; every htmx
request sends it as X-Live-Client, so the live messages caused by this tab's
own changes skip this tab, which re-draws itself from its own responses
already. Changes are therefore sent with htmx, never with a bare fetch().

Other pages listen with hivelight.live.on(kind, fn) for payloads of that
"kind" ("board", "notification", "activity", ...); every payload is also
dispatched as a "hivelight:live" event on document.
*/
(function () {
  "use strict";

  const hivelight = (window.hivelight = window.hivelight || {});
  const CLOSE_UNAUTHENTICATED = 4401;
  const CLOSE_REVOKED = 4403;
  const MAX_TOASTS = 4;
  const TOAST_MS = 8000;

  const handlers = {};
  const subscriptions = new Map();
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let connectedBefore = false;
  let paused = false;

  const live = (hivelight.live = {
    channel: null,
    state: "connecting",

    /* Payloads of one kind go to fn(payload). "resync" runs after a reconnect. */
    on: function (kind, fn) {
      (handlers[kind] = handlers[kind] || []).push(fn);
    },

    /* Ask to join a group; asked again after every reconnect. */
    subscribe: function (request) {
      subscriptions.set(JSON.stringify(request), request);
      send(request);
    },

    unsubscribe: function (request) {
      subscriptions.delete(JSON.stringify(request));
      const leave = Object.assign({}, request, { unsubscribe: request.subscribe });
      delete leave.subscribe;
      send(leave);
    },

    /* Close without reconnecting (and resume later): hidden pages, tests. */
    pause: function () {
      paused = true;
      clearTimeout(retryTimer);
      if (socket) socket.close(1000, "paused");
    },

    resume: function () {
      if (!paused) return;
      paused = false;
      attempt = 0;
      connect();
    },
  });

  function emit(kind, payload) {
    (handlers[kind] || []).forEach(function (fn) {
      try {
        fn(payload);
      } catch (error) {
        console.error("live handler for " + kind + " failed", error);
      }
    });
  }

  function send(request) {
    if (socket && socket.readyState === WebSocket.OPEN && live.channel) {
      socket.send(JSON.stringify(request));
    }
  }

  /* The socket's address: base.html's data-live-url, on this page's host. */
  function url() {
    const address = new URL(document.body.dataset.liveUrl, window.location.href);
    address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    return address.href;
  }

  function connect() {
    clearTimeout(retryTimer);
    live.state = "connecting";
    try {
      socket = new WebSocket(url());
    } catch (error) {
      retry();
      return;
    }
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", onClose);
  }

  function onMessage(event) {
    let payload;
    try {
      payload = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (!payload || typeof payload !== "object") return;
    if (payload.kind === "hello") {
      live.channel = payload.channel;
      live.state = "open";
      attempt = 0;
      subscriptions.forEach(send);
      if (connectedBefore) emit("resync", payload);
      connectedBefore = true;
      return;
    }
    if (payload.kind === "error") console.warn("live:", payload.message);
    emit(payload.kind, payload);
    document.dispatchEvent(new CustomEvent("hivelight:live", { detail: payload }));
  }

  function onClose(event) {
    live.channel = null;
    socket = null;
    if (event.code === CLOSE_UNAUTHENTICATED || event.code === CLOSE_REVOKED) {
      // Logged out (here or in another tab): retrying cannot help.
      live.state = "logged-out";
      return;
    }
    live.state = paused ? "paused" : "closed";
    if (!paused) retry();
  }

  /* Exponential backoff with jitter, 1 s doubling to 30 s. */
  function retry() {
    const delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.5 + Math.random());
    attempt += 1;
    retryTimer = setTimeout(connect, delay);
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (live.channel) event.detail.headers["X-Live-Client"] = live.channel;
  });

  /* --- the bell ------------------------------------------------------------ */

  function setUnread(count) {
    const link = document.getElementById("notif-bell-link");
    if (!link || typeof count !== "number") return;
    const badge = link.querySelector("[data-notif-count]");
    if (badge) {
      badge.textContent = String(count);
      badge.hidden = count === 0;
    }
    link.setAttribute("aria-label", "Notifications: " + count + " unread");
  }

  function bump() {
    const bell = document.getElementById("notif-bell");
    if (!bell) return;
    bell.classList.remove("is-bumped");
    void bell.offsetWidth; // restart the animation
    bell.classList.add("is-bumped");
  }

  /* --- toasts -------------------------------------------------------------- */

  function toast(text, href) {
    const area = document.getElementById("toasts");
    if (!area || !text) return;
    const box = document.createElement("div");
    box.className = "toast";
    box.setAttribute("role", "status");
    const link = document.createElement("a");
    link.href = href || area.dataset.notificationsUrl;
    link.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () {
      box.remove();
    });
    box.append(link, close);
    area.append(box);
    while (area.children.length > MAX_TOASTS) area.firstElementChild.remove();
    let timer = setTimeout(dismiss, TOAST_MS);
    function dismiss() {
      // Never pull a toast away from under the pointer or the keyboard.
      if (box.matches(":hover") || box.contains(document.activeElement)) {
        timer = setTimeout(dismiss, 2000);
        return;
      }
      clearTimeout(timer);
      box.remove();
    }
  }

  live.on("notification", function (payload) {
    setUnread(payload.unread);
    bump();
    toast(payload.text, payload.url);
    const fresh = document.getElementById("notif-new");
    if (fresh) fresh.hidden = false;
  });

  live.on("unread", function (payload) {
    setUnread(payload.unread);
  });

  /* After a reconnect the count may be stale: ask for it. */
  live.on("resync", function () {
    const link = document.getElementById("notif-bell-link");
    if (!link) return;
    fetch(link.dataset.bellUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data) setUnread(data.unread);
      })
      .catch(function () {});
  });

  /* Joined or left a matter's team: the lists of matters on this page (the
     home page's, the header menu) are fetched again. */
  live.on("matters", function () {
    if (window.htmx) window.htmx.trigger(document.body, "matters-changed");
  });
  live.on("resync", function () {
    if (window.htmx) window.htmx.trigger(document.body, "matters-changed");
  });

  hivelight.toast = toast;

  if (!("WebSocket" in window) || !document.body.dataset.liveUrl) return;
  connect();
})();
