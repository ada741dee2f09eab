"""Locust users for bench/load.py: people of two firms at work, each with a socket.

Run by bench/load.py (`locust -f bench/locustfile.py --headless ...`), never
alone: it reads the world bench/load.py made from LOAD_SPEC (a JSON file:
people with their passwords, matters and tasks) and writes what Locust's
own statistics do not hold to LOAD_OUT when the run stops: every request's
time by kind, 5xx answers, and every board message each person's socket
received (event id, wall-clock time of receipt), so bench/load.py can tell
lost and doubled deliveries and measure commit -> another person's socket.

Locust runs users as gevent greenlets and monkey-patches the standard
library when it is imported, so the socket is websocket-client's blocking
client (plain sockets, patched: cooperative) read by a greenlet of its own;
nothing here imports Django.

LOAD_MODE=work (the mix below, a person's pace) or boards (board opens as
fast as answered, on sessions bench/load.py made: the rate the web
processes hold).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import defaultdict
from typing import Any

import gevent
import websocket
from locust import HttpUser, between, constant, events, task

SPEC = json.loads(open(os.environ["LOAD_SPEC"]).read())  # noqa: SIM115
MODE = os.environ.get("LOAD_MODE", "work")
STATUSES = ["TODO", "IN_PROGRESS", "DONE"]

# name -> [(wall time at the answer, ms)]
timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
errors_5xx: list[str] = []
errors_other: list[str] = []
received: list[tuple[str, int, float]] = []  # (event id, person id, wall time)
people_queue = list(SPEC["people"])
random.Random(7).shuffle(people_queue)


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response: Any,
    exception: Any,
    **kwargs: Any,
) -> None:
    timings[name].append((time.time(), response_time))
    status = getattr(response, "status_code", 0) or 0
    if status >= 500:
        errors_5xx.append(f"{status} {name}")
    elif exception is not None:
        errors_other.append(f"{status} {name}: {exception}"[:300])


@events.test_stop.add_listener
def _write(**kwargs: Any) -> None:
    with open(os.environ["LOAD_OUT"], "w") as out:
        json.dump(
            {
                "timings": timings,
                "errors_5xx": errors_5xx,
                "errors_other": errors_other[:200],
                "errors_other_count": len(errors_other),
                "received": received,
            },
            out,
        )


class Person(HttpUser):
    """One person: logs in, keeps a socket open, works on their firm's matters."""

    wait_time = between(1.0, 3.0) if MODE == "work" else constant(0)

    def on_start(self) -> None:
        self.me = people_queue.pop(0)
        people_queue.append(self.me)
        self.firm = SPEC["firms"][str(self.me["firm"])]
        # As behind the TLS proxy production has (DEBUG=0: secure cookies,
        # strict Referer checks): uvicorn trusts X-Forwarded-Proto from
        # loopback, so Django sees https.
        self.origin = self.host.replace("http://", "https://", 1)
        self.client.headers["X-Forwarded-Proto"] = "https"
        self.channel = ""
        self.socket = None
        self.reader = None
        if MODE == "boards":  # the rate of board opens, not of logins
            self.client.cookies.set("sessionid", SPEC["sessions"][self.me["username"]])
            return
        self.client.get("/login/", name="login page")
        self._plain_cookies()
        answer = self.client.post(
            "/login/",
            data={
                "username": self.me["username"],
                "password": SPEC["password"],
                "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", ""),
            },
            headers={"Referer": f"{self.origin}/login/"},
            allow_redirects=False,
            name="log in",
        )
        if answer.status_code != 302:
            raise RuntimeError(f"{self.me['username']} could not log in")
        self._plain_cookies()
        self.csrf = self.client.cookies.get("csrftoken", "")
        self._open_socket()

    def on_stop(self) -> None:
        if self.reader is not None:
            self.reader.kill(block=False)
        if self.socket is not None:
            self.socket.close()

    def _plain_cookies(self) -> None:
        """The client talks plain HTTP to the proxy's side: send Secure cookies."""
        for cookie in self.client.cookies:
            cookie.secure = False

    def _open_socket(self) -> None:
        cookies = "; ".join(f"{k}={v}" for k, v in self.client.cookies.items())
        started = time.perf_counter()
        ws = websocket.create_connection(
            f"{self.host.replace('http', 'ws', 1)}/ws/live/",
            header=[f"Cookie: {cookies}", "X-Forwarded-Proto: https"],
            origin=self.origin,
            timeout=30,
        )
        hello = json.loads(ws.recv())
        self.channel = hello["channel"]
        for matter in self.firm["matters"]:
            ws.send(json.dumps({"subscribe": "matter", "id": matter["id"]}))
        events.request.fire(
            request_type="WS",
            name="socket open",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            response=None,
            exception=None,
        )
        ws.settimeout(None)
        self.socket = ws
        self.reader = gevent.spawn(self._read, ws)

    def _read(self, ws: Any) -> None:
        me = self.me["id"]
        while True:
            try:
                text = ws.recv()
            except Exception:
                return
            if not text:
                return
            now = time.time()
            message = json.loads(text)
            if message.get("kind") == "board" and message.get("event_id"):
                received.append((message["event_id"], me, now))

    # --- what people do -----------------------------------------------------

    def _matter(self) -> dict[str, Any]:
        return random.choice(self.firm["matters"])

    def _task(self) -> dict[str, Any]:
        return random.choice(self._matter()["tasks"])

    def _post(self, path: str, data: dict[str, Any], name: str) -> None:
        headers = {
            "X-CSRFToken": self.csrf,
            "X-Live-Client": self.channel,
            "HX-Request": "true",
            "Referer": f"{self.origin}/",
        }
        with self.client.post(
            path, data=data, headers=headers, name=name, catch_response=True
        ) as answer:
            # 4xx: a refused change (a move a colleague's made stale) is an
            # answer the page shows, not a failure of the server.
            if answer.status_code < 500:
                answer.success()

    @task(4)
    def open_board(self) -> None:
        self.client.get(f"/matters/{self._matter()['id']}/", name="board")

    @task(3 if MODE == "work" else 0)
    def open_task(self) -> None:
        self.client.get(f"/tasks/{self._task()['id']}/", name="task page")

    @task(4 if MODE == "work" else 0)
    def move_card(self) -> None:
        item = self._task()
        self._post(
            f"/tasks/{item['id']}/move/",
            {"status": random.choice(STATUSES)},
            "move card",
        )

    @task(2 if MODE == "work" else 0)
    def assign(self) -> None:
        item = self._task()
        person = random.choice(self.firm["people"])
        self._post(
            f"/tasks/{item['id']}/",
            {
                "title": item["title"],
                "description": "",
                "status": random.choice(STATUSES),
                "priority": "NORMAL",
                "assignee": person["id"],
                "reviewer": "",
                "due_date": "",
                "milestone": "",
            },
            "assign",
        )

    @task(2 if MODE == "work" else 0)
    def comment(self) -> None:
        item = self._task()
        person = random.choice(self.firm["people"])
        self._post(
            f"/tasks/{item['id']}/comments/",
            {"body": f"@{person['username']} could you look at this? {time.time()}"},
            "comment",
        )

    @task(1 if MODE == "work" else 0)
    def calendar(self) -> None:
        self.client.get(f"/people/{self.me['id']}/activity/", name="calendar")

    @task(1 if MODE == "work" else 0)
    def audit(self) -> None:
        if self.me["auditor"]:
            self.client.get("/audit/", name="audit")
        else:  # the audit view is the firm admin's; others read a matter's feed
            self.client.get(f"/matters/{self._matter()['id']}/activity/", name="feed")
