"""The load side of ``gridcare bench workorders``: hotline agents driving the work-order API.

Run by the benchmark as a subprocess (``python -m gridcare.workorders.bench_load``) so that
locust's gevent monkey-patching never touches the Django process that prepares the data and
counts what was stored. It imports no Django: it speaks HTTP only, like a browser would.

Each simulated user is one hotline agent (坐席). It logs in once through the console login
form (GET /login/ for the CSRF cookie, POST the form; the rotated ``csrftoken`` cookie is then
sent back as ``X-CSRFToken``), waits until every agent is logged in, then loops:

* ``POST /api/workorders/orders``: a complaint, inquiry or service request in a random
  category of the kind, tagged with the run tag in ``subject`` and ``external_ref``;
  acknowledged only on HTTP 201 with a ``number``;
* for a share of its own orders, one or two ``POST /api/workorders/orders/{number}/transitions``
  (contact + assign for a complaint, answer for an inquiry, assign + complete for a service
  request), each with the ``version`` the previous answer returned.

The measured window starts when the last agent has logged in and lasts ``--seconds``; then
the agents stop after the request in flight (none is cut off, so every order the server
stored was either acknowledged or answered with an error). The result is one JSON object on
stdout: counts, exact latency percentiles of the creates, and the CPU seconds of the load
generator, the app server's processes and the whole machine during the window.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import Any

from gevent import monkey  # type: ignore[import-untyped]

monkey.patch_all()

import gevent  # noqa: E402
from gevent.event import Event  # type: ignore[import-untyped]  # noqa: E402
from locust import FastHttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

from gridcare.core.cpu import machine_busy, own_cpu, tree_cpu  # noqa: E402

#: Kinds of the mix and their share in percent.
MIX = (("complaint", 40), ("inquiry", 30), ("service_request", 30))
CHANNELS = ("hotline", "hotline", "hotline", "web", "app", "counter")
#: The steps a hotline agent takes on its own new order, by kind (the workflow data allows
#: each of them to ``hotline_agent`` from the initial state).
STEPS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "complaint": (
        ("contact", {"method": "phone", "outcome": "reached", "note": "已电话联系客户"}),
        ("assign", {"team": "{team}", "note": "派往压测班组"}),
    ),
    "inquiry": (("answer", {"note": "已按知识库解答"}),),
    "service_request": (
        ("assign", {"team": "{team}"}),
        ("complete", {"note": "已处理并答复客户"}),
    ),
}
SUBJECTS = {
    "complaint": ("电费突然增加", "营业厅排队时间长", "抢修人员迟到", "停电未提前通知", "电压低灯暗"),
    "inquiry": ("怎么交电费", "阶梯电价怎么算", "什么时候来电", "如何办理过户", "电表读数怎么看"),
    "service_request": ("已交费申请复电", "电表黑屏", "抄表读数不对", "电器被烧坏", "其他申请"),
}


class Shared:
    """State shared by every agent of the run (one process, gevent: no locks needed)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.logged_in = 0
        self.all_ready = Event()
        self.stopping = False
        self.finished = 0
        self.window_start = 0.0
        self.window_end = 0.0
        self.create_ms: list[float] = []
        self.acknowledged = 0
        self.transitions = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.next_user = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what[:300])


SHARED: Shared | None = None


def _shared() -> Shared:
    if SHARED is None:
        raise RuntimeError("run() sets up the shared state before any agent starts")
    return SHARED


class HotlineAgent(FastHttpUser):
    """One 95598 agent: log in once, then take calls as fast as the server answers."""

    wait_time = constant(0)
    host = "http://127.0.0.1"

    def on_start(self) -> None:
        shared = _shared()
        config = shared.config
        index = shared.next_user
        shared.next_user += 1
        self.rng = random.Random(config["seed"] * 100_003 + index)  # noqa: S311 - load mix, not secrets
        self.index = index
        self.count = 0
        self.csrf = ""
        self.counted_out = False
        username = f"{config['user_prefix']}{index + 1:03d}"
        if self._login(username, config["password"]):
            shared.logged_in += 1
            if shared.logged_in == config["users"]:
                shared.all_ready.set()
        shared.all_ready.wait()

    def _cookie(self, name: str) -> str:
        for cookie in self.client.cookiejar:
            if cookie.name == name:
                return str(cookie.value)
        return ""

    def _login(self, username: str, password: str) -> bool:
        shared = _shared()
        with self.client.get("/login/", name="login form", catch_response=True) as resp:
            if resp.status_code != 200 or not self._cookie("csrftoken"):
                resp.failure(f"GET /login/ {resp.status_code}")
                shared.error(f"login form: HTTP {resp.status_code}")
                return False
        with self.client.post(
            "/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self._cookie("csrftoken"),
            },
            headers={"Referer": f"{self.host}/login/"},
            allow_redirects=False,
            name="login",
            catch_response=True,
        ) as resp:
            if resp.status_code != 302:
                resp.failure(f"login {resp.status_code}")
                shared.error(f"login {username}: HTTP {resp.status_code}")
                return False
        self.csrf = self._cookie("csrftoken")
        return bool(self.csrf)

    def _post(self, path: str, body: dict[str, Any], name: str) -> tuple[int, dict[str, Any], float]:
        started = time.perf_counter()
        with self.client.post(
            path, json=body, headers={"X-CSRFToken": self.csrf}, name=name, catch_response=True
        ) as resp:
            elapsed = (time.perf_counter() - started) * 1000
            try:
                data = resp.json() if resp.content else {}
            except ValueError:
                data = {}
            resp.success()  # judged below, by the caller
        return int(resp.status_code or 0), data if isinstance(data, dict) else {}, elapsed

    @task
    def take_call(self) -> None:
        shared = _shared()
        config = shared.config
        if shared.stopping or not self.csrf:
            self._stop()
        self.count += 1
        kind = self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        ref = f"{config['tag']}-{self.index:03d}-{self.count:06d}"
        body: dict[str, Any] = {
            "kind": kind,
            "channel": self.rng.choice(CHANNELS),
            "category": self.rng.choice(config["categories"][kind]),
            "subject": f"[{config['tag']}] {self.rng.choice(SUBJECTS[kind])}",
            "description": "压测工单 (gridcare bench workorders)",
            "contact_name": "压测客户",
            "contact_phone": f"139{self.rng.randrange(10**8):08d}",
            "external_ref": ref,
        }
        if config["accounts"] and self.rng.random() < 0.5:
            body["account_number"] = self.rng.choice(config["accounts"])
        status, data, elapsed = self._post("/api/workorders/orders", body, "create")
        shared.create_ms.append(elapsed)
        if status == 201 and data.get("number"):
            shared.acknowledged += 1
        else:
            shared.error(f"create {ref}: HTTP {status} {json.dumps(data, ensure_ascii=False)[:200]}")
            return
        if self.rng.random() >= config["transition_share"]:
            return
        number, version = str(data["number"]), data.get("version")
        for transition, fields in STEPS[kind]:
            if shared.stopping or not isinstance(version, int):
                return
            filled = {k: v.replace("{team}", config["team"]) for k, v in fields.items()}
            status, data, _ = self._post(
                f"/api/workorders/orders/{number}/transitions",
                {"transition": transition, "version": version, "fields": filled},
                f"transition {transition}",
            )
            if status != 200:
                shared.error(
                    f"{transition} {number}: HTTP {status} {json.dumps(data, ensure_ascii=False)[:200]}"
                )
                return
            shared.transitions += 1
            version = data.get("version")

    def _stop(self) -> None:
        if not self.counted_out:
            self.counted_out = True
            _shared().finished += 1
        raise StopUser()


class CpuSample:
    def __init__(self, server_pid: int, db_pid: int) -> None:
        self.server = tree_cpu(server_pid)
        self.db = tree_cpu(db_pid)
        self.load = own_cpu()
        self.busy, self.total = machine_busy()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Drive the load described by ``config``; return the figures."""
    global SHARED
    SHARED = shared = Shared(config)
    users = int(config["users"])
    env = Environment(user_classes=[HotlineAgent], host=config["host"], catch_exceptions=True)
    runner = env.create_local_runner()
    started = time.perf_counter()
    runner.start(users, spawn_rate=max(users, 100))
    if not shared.all_ready.wait(timeout=config["login_timeout"]):
        shared.stopping = True
        shared.all_ready.set()
        runner.quit()
        return {"error": f"only {shared.logged_in} of {users} agents logged in", **_counts(shared, 0.0)}
    login_seconds = time.perf_counter() - started
    shared.window_start = time.perf_counter()
    before = CpuSample(config["server_pid"], config.get("db_pid") or 0)
    gevent.sleep(config["seconds"])
    shared.stopping = True
    drain_deadline = time.perf_counter() + 30
    while shared.finished < users and time.perf_counter() < drain_deadline:
        gevent.sleep(0.01)
    shared.window_end = time.perf_counter()
    after = CpuSample(config["server_pid"], config.get("db_pid") or 0)
    in_flight = users - shared.finished
    runner.quit()
    window = shared.window_end - shared.window_start
    busy = after.busy - before.busy
    total = after.total - before.total
    server_cpu = after.server - before.server
    load_cpu = after.load - before.load
    db_cpu = after.db - before.db
    result = _counts(shared, window)
    result.update(
        {
            "login_seconds": round(login_seconds, 2),
            "still_in_flight": in_flight,
            "cpu": {
                "cores": os.cpu_count(),
                "machine_busy_share": round(busy / total, 3) if total else None,
                "server_s": round(server_cpu, 2),
                "load_generator_s": round(load_cpu, 2),
                "database_s": round(db_cpu, 2) if config.get("db_pid") else None,
                "rest_s": round(busy - server_cpu - load_cpu - db_cpu, 2),
                "window_s": round(window, 2),
                "server_ms_per_create": round(server_cpu * 1000 / shared.acknowledged, 2)
                if shared.acknowledged
                else None,
            },
        }
    )
    return result


def _counts(shared: Shared, window: float) -> dict[str, Any]:
    return {
        "window_seconds": round(window, 3),
        "acknowledged": shared.acknowledged,
        "transitions": shared.transitions,
        "errors": shared.errors,
        "error_samples": shared.error_samples,
        "created_per_s": round(shared.acknowledged / window, 1) if window else 0.0,
        "transitions_per_s": round(shared.transitions / window, 1) if window else 0.0,
        "p50_ms": round(percentile(shared.create_ms, 0.50), 1),
        "p90_ms": round(percentile(shared.create_ms, 0.90), 1),
        "p99_ms": round(percentile(shared.create_ms, 0.99), 1),
        "max_ms": round(max(shared.create_ms), 1) if shared.create_ms else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("config", help="JSON file of the run (written by gridcare bench workorders)")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    result = run(config)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
