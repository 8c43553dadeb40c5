"""``gridcare bench workorders --seconds 60 --users 50``: work-order intake under load.

1. Refuses anything but PostgreSQL (the benchmark measures concurrent writers; SQLite
   serialises them by design). Prepares its data, idempotently: one hotline agent
   (``hotline_agent`` role) per simulated user, named ``bench_agent_001`` … with the password
   ``gridcare-bench``; a team ``BENCH-WO`` of those agents; five customers with an account each
   (户号 ``WB…``) on a bench service point.
2. Counts the SQL queries of one create and one transition through the whole HTTP stack
   (in-process test client, rolled back) and times a few creates in-process: what one request
   costs before any concurrency.
3. Starts the real app server on loopback as a subprocess against the same database, and
   waits until it answers: granian serving ``gridcare.wsgi`` over WSGI (2 workers × 2
   blocking threads by default; HTTP parsed in Rust, keep-alive connections), or gunicorn
   (``--server gunicorn``: 5 sync workers by default), DEBUG off, ``gridcare.settings``.
4. Drives the load in a second subprocess (:mod:`gridcare.workorders.bench_load`, asyncio,
   one keep-alive HTTP/1.1 connection per agent): every user logs in once, then creates
   orders and takes steps on a share of its own ones.
5. Stops the server, counts the orders stored with the run's tag (``external_ref`` starts
   with it) and prints the figures, then the JSON line of ``gridcare bench``.

An order counts as acknowledged only on HTTP 201 with a number; ``stored == acknowledged`` and
``errors == 0`` mean nothing was lost or refused. Run it on a scratch database: every run adds
its orders (``WB…`` tags) and leaves them there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gridcare.core.cpu import database_pid
from gridcare.core.roles import HOTLINE_AGENT

USER_PREFIX = "bench_agent_"
#: What a worker's fast intake path writes when it stops (``FastIntake.report``).
FAST_INTAKE_LINE = re.compile(r"fast intake \(pid \d+\): (\d+) answered here, (\d+) handed to Django")
PASSWORD = "gridcare-bench"  # noqa: S105 - published password of the bench agents
TEAM = "BENCH-WO"
ACCOUNT_PREFIX = "WB"
KINDS = ("complaint", "inquiry", "service_request")
#: The app servers the benchmark can start, with their default (workers, threads) on 2 cores.
SERVERS = {"granian": (2, 2), "gunicorn": (5, 1)}


class _Rollback(Exception):
    """Raised to roll the profiling transaction back."""


def add_arguments(parser: Any) -> None:
    parser.add_argument("--seconds", type=int, default=60, help="Measured seconds of load (default 60).")
    parser.add_argument("--users", type=int, default=50, help="Simulated hotline agents (default 50).")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="granian",
        help="App server (default granian: HTTP parsed in Rust, keep-alive; gunicorn: sync workers).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Worker processes (default 2 for granian, 5 for gunicorn: measured best on 2 cores, "
        "docs/workorders-bench.md).",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Threads per worker (default 2 for granian, its blocking threads; 1 for gunicorn, the sync "
        "worker class, more = gthread).",
    )
    parser.add_argument(
        "--transition-share",
        type=float,
        default=0.5,
        help="Share of its own new orders an agent also takes steps on (default 0.5).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Random seed of the load (default 1).")


# --- data -------------------------------------------------------------------------------------


def _service_point() -> int:
    from gridcare.customers.models import Feeder, ServicePoint, Substation, Transformer

    sub, _ = Substation.objects.get_or_create(code="BENCH-BDZ", defaults={"name": "基准测试变电站"})
    feeder, _ = Feeder.objects.get_or_create(
        code="BENCH-XL", defaults={"name": "基准测试线", "substation": sub}
    )
    transformer, _ = Transformer.objects.get_or_create(
        code="BENCH-TQ",
        defaults={"name": "基准测试台区", "feeder": feeder, "capacity_kva": 400, "area_type": "urban"},
    )
    point = ServicePoint.objects.filter(transformer=transformer).order_by("pk").first()
    if point is None:
        point = ServicePoint.objects.create(address="基准测试地址", transformer=transformer)
    return int(point.pk)


def _accounts(count: int = 5) -> list[str]:
    from gridcare.customers.models import Account, Customer

    point = _service_point()
    numbers = []
    for i in range(1, count + 1):
        number = f"{ACCOUNT_PREFIX}{i:014d}"
        if not Account.objects.filter(number=number).exists():
            customer = Customer.objects.create(
                kind="organisation",
                name=f"压测单位{i}",
                credit_code=f"{ACCOUNT_PREFIX}BENCH{i:011d}",
                id_tail=f"{i:06d}",
                mobile=f"1380000{i:04d}",
                contact_person="压测",
            )
            Account.objects.create(
                number=number,
                customer=customer,
                service_point_id=point,
                customer_class="urban_res",
                voltage_level="220v",
                opened_on=dt.date(2020, 1, 1),
            )
        numbers.append(number)
    return numbers


def prepare(users: int) -> dict[str, Any]:
    """Agents, team, accounts and the categories of the mix; returns what the load needs."""
    from gridcare.workorders.models import Category, Team

    user_model = get_user_model()
    group = Group.objects.get(name=HOTLINE_AGENT)
    password = make_password(PASSWORD, hasher="argon2")  # the server's own hasher
    names = [f"{USER_PREFIX}{i:03d}" for i in range(1, users + 1)]
    with transaction.atomic():
        existing = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
        user_model.objects.bulk_create(
            [
                user_model(username=name, password=password, first_name="压测坐席", last_name=name[-3:])
                for name in names
                if name not in existing
            ]
        )
        agents = list(user_model.objects.filter(username__in=names))
        user_model.objects.filter(username__in=names).update(password=password, is_active=True)
        group.user_set.add(*agents)
        team, _ = Team.objects.update_or_create(
            code=TEAM, defaults={"name": "压测班组", "is_active": True, "kinds": []}
        )
        team.members.add(*agents)
        accounts = _accounts()
    parents = set(Category.objects.exclude(parent=None).values_list("parent_id", flat=True))
    categories: dict[str, list[str]] = {}
    for kind in KINDS:
        rows = Category.objects.filter(kind=kind, is_active=True).values_list("pk", "code")
        categories[kind] = sorted(code for pk, code in rows if pk not in parents)
        if not categories[kind]:
            raise CommandError(
                f"No active {kind} categories: run `gridcare migrate` (migration workorders 0002 loads them)."
            )
    return {
        "user_prefix": USER_PREFIX,
        "password": PASSWORD,
        "team": TEAM,
        "accounts": accounts,
        "categories": categories,
        "agents": len(agents),
    }


# --- one request, in-process ----------------------------------------------------------------------


def _table_of(sql: str) -> str:
    words = sql.replace('"', " ").split()
    upper = [w.upper() for w in words]
    for key in ("INTO", "UPDATE", "FROM"):
        if key in upper[:-1]:
            return f"{upper[0].lower()} {words[upper.index(key) + 1]}"
    return " ".join(upper[:2]).lower() if upper else "?"


def profile(data: dict[str, Any], creates: int = 20) -> dict[str, Any]:
    """Queries of one create and one transition through the whole HTTP stack (test client,
    session login, middleware, API, service), and the in-process milliseconds per create of
    ``creates`` sequential creates. Everything is rolled back."""
    user = get_user_model().objects.get(username=f"{USER_PREFIX}001")
    client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
    result: dict[str, Any] = {}
    body = {
        "kind": "complaint",
        "channel": "hotline",
        "category": data["categories"]["complaint"][0],
        "subject": "[profile] 电费突然增加",
        "contact_name": "压测客户",
        "contact_phone": "13900000000",
        "account_number": data["accounts"][0],
        "external_ref": "profile",
    }
    try:
        with transaction.atomic():
            client.force_login(user)
            client.post("/api/workorders/orders", body, content_type="application/json")  # warm
            with CaptureQueriesContext(connection) as create_q:
                resp = client.post("/api/workorders/orders", body, content_type="application/json")
            result["create_status"] = resp.status_code
            order = resp.json() if resp.status_code == 201 else {}
            result["create_queries"] = len(create_q.captured_queries)
            result["create_tables"] = dict(
                Counter(_table_of(q["sql"]) for q in create_q.captured_queries).most_common()
            )
            if order.get("number"):
                with CaptureQueriesContext(connection) as step_q:
                    resp = client.post(
                        f"/api/workorders/orders/{order['number']}/transitions",
                        {
                            "transition": "contact",
                            "version": order.get("version"),
                            "fields": {"method": "phone", "outcome": "reached"},
                        },
                        content_type="application/json",
                    )
                result["transition_status"] = resp.status_code
                result["transition_queries"] = len(step_q.captured_queries)
            started = time.perf_counter()
            for _ in range(creates):
                client.post("/api/workorders/orders", body, content_type="application/json")
            result["inprocess_ms_per_create"] = round((time.perf_counter() - started) * 1000 / creates, 2)
            raise _Rollback
    except _Rollback:
        pass
    return result


# --- the server ----------------------------------------------------------------------------------


def database_url() -> str:
    """The current database as a ``DATABASE_URL`` (the test database inside the tests)."""
    db = connection.settings_dict
    user = quote(str(db.get("USER") or ""), safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The app server serving ``gridcare.wsgi`` on 127.0.0.1 (a subprocess of the benchmark):
    granian (WSGI, ``--blocking-threads`` per worker) or gunicorn (sync or gthread workers)."""

    def __init__(self, *, kind: str, workers: int, threads: int, log: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gridcare.settings",
            "DATABASE_URL": database_url(),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "GRIDCARE_VAR_DIR": str(settings.VAR_DIR),
            "GRIDCARE_DATA_DIR": str(settings.DATA_DIR),
        }
        if kind == "granian":
            self.args = [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--blocking-threads",
                str(threads),
                "--http",
                "1",
                "--no-ws",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
                "gridcare.wsgi:application",
            ]
            self.describe = f"granian gridcare.wsgi (WSGI), {workers} workers × {threads} blocking threads"
        else:
            self.args = [
                sys.executable,
                "-m",
                "gunicorn",
                "gridcare.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread" if threads > 1 else "sync",
                "--backlog",
                "2048",
                "--timeout",
                "120",
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
                "--error-logfile",
                str(log),
                # The workers' own output (the fast intake path's counts at exit) into that log.
                "--capture-output",
            ]
            self.describe = (
                f"gunicorn gridcare.wsgi, {workers} workers × {threads} threads "
                f"({'gthread' if threads > 1 else 'sync'})"
            )
        # granian writes its workers' output (the fast intake path's counts at exit) to stderr.
        with log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                self.args,
                env=env,
                cwd=str(settings.PROJECT_DIR),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise CommandError(f"{self.kind} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=5) as resp:  # noqa: S310 - http://127.0.0.1
                    if resp.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise CommandError(f"{self.kind} did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def fast_intake_counts(self) -> tuple[int, int] | None:
        """Requests the workers' fast intake path answered and handed to Django, from the
        lines each worker writes when it stops (``workorders/fastpath.py``); None if none did."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return None
        found = FAST_INTAKE_LINE.findall(text)
        if not found:
            return None
        return sum(int(a) for a, _ in found), sum(int(d) for _, d in found)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=45)
        # Whatever is left of the server's process group (started with start_new_session):
        # a worker must not outlive the run, holding the port and its database connections.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


# --- the run -------------------------------------------------------------------------------------


def run(command: BaseCommand, options: dict[str, Any]) -> dict[str, Any]:
    from gridcare.workorders.models import WorkOrder

    if connection.vendor != "postgresql":
        raise CommandError(
            "bench workorders needs PostgreSQL: it measures concurrent agents writing at once, "
            'which SQLite serialises. Set DATABASE_URL=postgres://… (e.g. `eval "$(scripts/pg-start.sh)"`) '
            "and run `gridcare migrate` first."
        )
    users, seconds = int(options["users"]), int(options["seconds"])
    if users < 1 or seconds < 1:
        raise CommandError("--users and --seconds must be at least 1.")
    if any(options.get(name) is not None and int(options[name]) < 1 for name in ("workers", "threads")):
        raise CommandError("--workers and --threads must be at least 1.")
    if not 0 <= float(options["transition_share"]) <= 1:
        raise CommandError("--transition-share must be between 0 and 1.")
    out = command.stdout
    load_avg = os.getloadavg()
    out.write(
        f"bench workorders on postgresql: {users} agents, {seconds} s "
        f"(machine: {os.cpu_count()} cores, load average {load_avg[0]:.1f} before the run)"
    )
    data = prepare(users)
    out.write(
        f"  data: {data['agents']} hotline agents ({USER_PREFIX}001…, password {PASSWORD}), team {TEAM}, "
        f"{len(data['accounts'])} accounts, categories "
        + ", ".join(f"{k} {len(v)}" for k, v in data["categories"].items())
    )
    prof = profile(data)
    out.write(
        f"  one request in-process: create HTTP {prof.get('create_status')} with "
        f"{prof.get('create_queries')} queries, transition HTTP {prof.get('transition_status')} with "
        f"{prof.get('transition_queries')} queries; {prof.get('inprocess_ms_per_create')} ms per create "
        "(sequential, one thread)"
    )
    if prof.get("create_tables"):
        out.write(
            "    create queries by table: " + ", ".join(f"{k} {v}" for k, v in prof["create_tables"].items())
        )
    db_pid = database_pid()
    # Close our connection: the server's workers are the writers now.
    connection.close()
    tag = f"{ACCOUNT_PREFIX}{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="gridcare-bench-wo-") as tmp:
        kind = str(options.get("server") or "granian")
        workers, threads = SERVERS[kind]
        server = Server(
            kind=kind,
            workers=int(options.get("workers") or workers),
            threads=int(options.get("threads") or threads),
            log=Path(tmp) / "server.log",
        )
        try:
            ready = server.wait_ready()
            out.write(f"  server: {server.describe} on {server.url}, DEBUG off; answered after {ready:.1f} s")
            config = {
                "host": server.url,
                "users": users,
                "seconds": seconds,
                "tag": tag,
                "seed": int(options["seed"]),
                "transition_share": float(options["transition_share"]),
                "login_timeout": 60 + users,
                "server_pid": server.process.pid,
                "db_pid": db_pid,
                **{k: data[k] for k in ("user_prefix", "password", "team", "accounts", "categories")},
            }
            config_path = Path(tmp) / "load.json"
            config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
            try:
                load = subprocess.run(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", "gridcare.workorders.bench_load", str(config_path)],
                    capture_output=True,
                    text=True,
                    timeout=seconds + 300 + users,
                    cwd=str(settings.PROJECT_DIR),
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CommandError(
                    f"the load generator did not finish within {exc.timeout:.0f} s:\n{server.log_tail()}"
                ) from None
        finally:
            server.stop()
        lines = [line for line in load.stdout.splitlines() if line.startswith("{")]
        if load.returncode != 0 or not lines:
            raise CommandError(
                f"the load generator failed (exit {load.returncode}):\n{load.stderr[-3000:]}\n"
                f"server log:\n{server.log_tail()}"
            )
        figures = json.loads(lines[-1])
        server_log = "\n".join(
            line for line in server.log_tail(40).splitlines() if not FAST_INTAKE_LINE.search(line)
        )[-2000:]
        fast = server.fast_intake_counts()
    stored = WorkOrder.objects.filter(external_ref__startswith=f"{tag}-").count()
    if figures.get("error"):
        out.write(f"  LOAD FAILED: {figures['error']}")
    cpu = figures.get("cpu", {})
    out.write(
        f"  load: run tag {tag}, agents logged in after {figures.get('login_seconds')} s, "
        f"measured window {figures['window_seconds']:.1f} s"
        + (
            f"; {figures['still_in_flight']} agents still waiting for an answer 30 s after the window"
            if figures.get("still_in_flight")
            else ""
        )
    )
    out.write(
        f"  creates: {figures['acknowledged']} acknowledged (201 with a number), {stored} stored, "
        f"{figures['created_per_s']} /s; latency p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms"
    )
    out.write(f"  transitions: {figures['transitions']} ({figures['transitions_per_s']} /s)")
    out.write(f"  errors: {figures['errors']}")
    for sample in figures.get("error_samples", []):
        out.write(f"    {sample}")
    if cpu:
        out.write(
            f"  CPU during the window ({cpu['cores']} cores, {cpu['machine_busy_share']:.0%} busy): "
            f"app server {cpu['server_s']} s, load generator {cpu['load_generator_s']} s, "
            f"PostgreSQL {cpu['database_s'] if cpu['database_s'] is not None else '(not measured)'} s, "
            f"everything else on the machine {cpu['rest_s']} s, in {cpu['window_s']} s; "
            f"{cpu['server_ms_per_create']} server CPU ms per create (transitions included)"
        )
    if fast is not None:
        out.write(
            f"  fast intake path (workers' own counts): {fast[0]} requests answered by it, "
            f"{fast[1]} handed to Django"
        )
    if stored != figures["acknowledged"]:
        out.write(f"  MISMATCH: {stored} orders stored but {figures['acknowledged']} acknowledged")
    if server_log.strip():
        out.write("  server log (last lines):\n    " + server_log.replace("\n", "\n    "))
    return {
        "created_per_s": figures["created_per_s"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "errors": figures["errors"] + (1 if figures.get("error") else 0),
        "acknowledged": figures["acknowledged"],
        "stored": stored,
        "transitions_per_s": figures["transitions_per_s"],
        "users": users,
        "seconds": seconds,
        "server": kind,
    }
