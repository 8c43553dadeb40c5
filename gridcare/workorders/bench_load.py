"""The load side of ``gridcare bench workorders``: hotline agents driving the work-order API.

Run by the benchmark as a subprocess (``python -m gridcare.workorders.bench_load``), on its
own core time, measured apart. It imports no Django: it speaks HTTP/1.1 only, like a browser
would, over one keep-alive connection per agent (a new one whenever the server closes it, as
gunicorn's sync workers do after every answer), with asyncio streams: the load tool shares
the two cores with the server, so it is kept as cheap per request as it can be (less than
half of what locust's client cost; docs/workorders-bench.md).

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
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from gridcare.core.cpu import machine_busy, own_cpu, tree_cpu

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
    """State shared by every agent of the run (one process, one event loop: no locks needed)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.logged_in = 0
        self.all_ready = asyncio.Event()
        self.stopping = False
        self.create_ms: list[float] = []
        self.acknowledged = 0
        self.transitions = 0
        self.errors = 0
        self.error_samples: list[str] = []

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what[:300])


#: Seconds one request may take before the agent counts it as an error (and drops the connection).
REQUEST_TIMEOUT = 60.0


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 we can read."""


class Client:
    """A minimal HTTP/1.1 client on one keep-alive connection, with a cookie jar (names and
    values only: one host, one path). Reconnects when the server closed the connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.host_header = f"{self.host}:{self.port}".encode()
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request; return (status, body). Cookies the answer sets are kept."""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        if self.cookies:
            lines.append(("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items())).encode())
        if body or method == "POST":
            lines.append(b"Content-Length: " + str(len(body)).encode())
        message = b"\r\n".join(lines) + b"\r\n\r\n" + body
        if self.reader is not None and (
            self.reader.at_eof()
            or self.reader.exception() is not None
            or self.writer is None
            or self.writer.is_closing()
        ):
            await self.close()  # the server closed or reset the kept connection while it was idle
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if self.reader is None or self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                return await self._exchange(self.reader, self.writer, message)
        except (TimeoutError, OSError, EOFError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from None

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
    ) -> tuple[int, bytes]:
        writer.write(message)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, close = -1, False, False
        for line in header_lines:
            field, _, raw = line.partition(b":")
            field, raw = field.strip().lower(), raw.strip()
            if field == b"content-length":
                length = int(raw)
            elif field == b"transfer-encoding":
                chunked = b"chunked" in raw.lower()
            elif field == b"connection":
                close = raw.lower() == b"close"
            elif field == b"set-cookie":
                cookie, _, cookie_value = raw.split(b";", 1)[0].decode("latin-1").partition("=")
                self.cookies[cookie.strip()] = cookie_value.strip()
        if chunked:
            # Django sets Content-Length on every answer this agent asks for.
            raise ValueError("a chunked answer (not expected from Django)")
        if length >= 0:
            content = await reader.readexactly(length)
        elif status in (204, 304) or status < 200:
            content = b""
        elif close:
            content = await reader.read()  # the answer ends where the connection does
        else:
            raise ValueError(f"HTTP {status} without a length on a kept connection")
        if close:
            await self.close()
        return status, content


class HotlineAgent:
    """One 95598 agent: log in once, then take calls as fast as the server answers."""

    def __init__(self, shared: Shared, index: int) -> None:
        config = shared.config
        self.shared = shared
        self.config = config
        self.index = index
        self.rng = random.Random(config["seed"] * 100_003 + index)  # noqa: S311 - load mix, not secrets
        self.count = 0
        self.client = Client(config["host"])
        self.csrf = ""
        #: The external reference of a create sent and not yet answered (see ``_run``).
        self.creating = ""

    async def run(self) -> None:
        shared = self.shared
        try:
            if await self._login(
                f"{self.config['user_prefix']}{self.index + 1:03d}", self.config["password"]
            ):
                shared.logged_in += 1
                if shared.logged_in == self.config["users"]:
                    shared.all_ready.set()
            await shared.all_ready.wait()
            while not shared.stopping and self.csrf:
                await self.take_call()
        finally:
            await self.client.close()

    async def _login(self, username: str, password: str) -> bool:
        shared = self.shared
        try:
            status, _ = await self.client.request("GET", "/login/")
            if status != 200 or not self.client.cookies.get("csrftoken"):
                shared.error(f"login form: HTTP {status}")
                return False
            form = urlencode(
                {
                    "username": username,
                    "password": password,
                    "csrfmiddlewaretoken": self.client.cookies["csrftoken"],
                }
            ).encode()
            status, _ = await self.client.request(
                "POST",
                "/login/",
                form,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Referer": f"{self.config['host']}/login/",
                },
            )
        except HttpError as exc:
            shared.error(f"login {username}: {exc}")
            return False
        if status != 302:
            shared.error(f"login {username}: HTTP {status}")
            return False
        self.csrf = self.client.cookies.get("csrftoken", "")
        return bool(self.csrf)

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float, str]:
        started = time.perf_counter()
        try:
            status, content = await self.client.request(
                "POST",
                path,
                json.dumps(body, ensure_ascii=False).encode(),
                {"Content-Type": "application/json", "X-CSRFToken": self.csrf},
            )
        except HttpError as exc:
            return 0, {}, (time.perf_counter() - started) * 1000, str(exc)
        elapsed = (time.perf_counter() - started) * 1000
        try:
            data = json.loads(content) if content else {}
        except ValueError:
            data = {}
        return status, data if isinstance(data, dict) else {}, elapsed, ""

    async def take_call(self) -> None:
        shared, config = self.shared, self.config
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
        self.creating = ref
        status, data, elapsed, failure = await self._post("/api/workorders/orders", body)
        self.creating = ""
        shared.create_ms.append(elapsed)
        if status == 201 and data.get("number"):
            shared.acknowledged += 1
        else:
            shared.error(
                f"create {ref}: " + (failure or f"HTTP {status} {json.dumps(data, ensure_ascii=False)[:200]}")
            )
            return
        if self.rng.random() >= config["transition_share"]:
            return
        number, version = str(data["number"]), data.get("version")
        for transition, fields in STEPS[kind]:
            if shared.stopping or not isinstance(version, int):
                return
            filled = {k: v.replace("{team}", config["team"]) for k, v in fields.items()}
            status, data, _, failure = await self._post(
                f"/api/workorders/orders/{number}/transitions",
                {"transition": transition, "version": version, "fields": filled},
            )
            if status != 200:
                shared.error(
                    f"{transition} {number}: "
                    + (failure or f"HTTP {status} {json.dumps(data, ensure_ascii=False)[:200]}")
                )
                return
            shared.transitions += 1
            version = data.get("version")


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
    return asyncio.run(_run(config))


async def _run(config: dict[str, Any]) -> dict[str, Any]:
    shared = Shared(config)
    users = int(config["users"])
    started = time.perf_counter()
    agents = [HotlineAgent(shared, index) for index in range(users)]
    tasks = [asyncio.create_task(agent.run()) for agent in agents]
    try:
        await asyncio.wait_for(shared.all_ready.wait(), timeout=config["login_timeout"])
    except TimeoutError:
        shared.stopping = True
        shared.all_ready.set()
        await asyncio.wait(tasks, timeout=30)
        return {"error": f"only {shared.logged_in} of {users} agents logged in", **_counts(shared, 0.0)}
    login_seconds = time.perf_counter() - started
    window_start = time.perf_counter()
    before = CpuSample(config["server_pid"], config.get("db_pid") or 0)
    await asyncio.sleep(config["seconds"])
    shared.stopping = True
    _, pending = await asyncio.wait(tasks, timeout=30)
    window_end = time.perf_counter()
    after = CpuSample(config["server_pid"], config.get("db_pid") or 0)
    for agent, task in zip(agents, tasks, strict=True):
        if task in pending:
            task.cancel()
            if agent.creating:  # the server may still store it: neither acknowledged nor lost
                shared.error(f"create {agent.creating}: no answer 30 s after the window")
        elif task.exception() is not None:  # not pending: done
            shared.error(f"agent {agent.index + 1} stopped: {task.exception()!r}")
    window = window_end - window_start
    busy = after.busy - before.busy
    total = after.total - before.total
    server_cpu = after.server - before.server
    load_cpu = after.load - before.load
    db_cpu = after.db - before.db
    result = _counts(shared, window)
    result.update(
        {
            "login_seconds": round(login_seconds, 2),
            "still_in_flight": len(pending),
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
