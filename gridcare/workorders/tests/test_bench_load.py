"""The benchmark's HTTP client (``bench_load.Client``) against small asyncio servers: kept
connections, a server that closes after every answer or while the connection is idle, and
one that never answers. No database."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from gridcare.workorders import bench_load

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _run(main: Callable[[], Awaitable[None]]) -> None:
    """``asyncio.run(main())`` on a thread of its own: a browser test that ran earlier in
    this worker process leaves Playwright's event loop running on the main thread, where
    ``asyncio.run`` refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, main()).result()  # type: ignore[arg-type]


def _answer(body: bytes, *, close: bool = False, cookie: str = "") -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Length: " + str(len(body)).encode()]
    if cookie:
        head.append(b"Set-Cookie: " + cookie.encode() + b"; Path=/; HttpOnly")
    if close:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def test_kept_connection_cookies_and_a_server_that_closes_after_each_answer():
    connections = []

    async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append("keep")
        try:
            while True:
                request = await _read_request(reader)
                sent_cookie = b"csrftoken=abc" in request
                writer.write(_answer(b"again" if sent_cookie else b"first", cookie="csrftoken=abc"))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    async def close_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append("close")
        await _read_request(reader)
        writer.write(_answer(b"{}", close=True))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, url = await _serve(keep)
        client = bench_load.Client(url)
        assert await client.request("GET", "/login/") == (200, b"first")
        assert client.cookies == {"csrftoken": "abc"}
        assert await client.request("POST", "/x", b'{"a": 1}') == (200, b"again")
        await client.close()
        server.close()
        assert connections == ["keep"]  # both requests on one connection

        server, url = await _serve(close_each)
        client = bench_load.Client(url)
        for _ in range(3):
            assert await client.request("POST", "/api/workorders/orders", b"{}") == (200, b"{}")
        await client.close()
        server.close()

    _run(main)
    assert connections == ["keep", "close", "close", "close"]


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_connection_the_server_closed_while_idle_is_replaced_not_an_error(how: str) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(b"ok"))  # keep-alive promised, then closed (or reset) while idle
        await writer.drain()
        await asyncio.sleep(0.05)
        if how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    async def main() -> None:
        server, url = await _serve(once)
        client = bench_load.Client(url)
        assert await client.request("GET", "/") == (200, b"ok")
        await asyncio.sleep(0.3)  # the close or reset reaches the client
        assert await client.request("GET", "/") == (200, b"ok")
        await client.close()
        server.close()

    _run(main)


def test_no_answer_and_a_broken_answer_are_errors(monkeypatch):
    monkeypatch.setattr(bench_load, "REQUEST_TIMEOUT", 0.3)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        await writer.drain()
        writer.close()

    async def main() -> None:
        for handler, message in ((silent, "TimeoutError"), (broken, "IncompleteReadError")):
            server, url = await _serve(handler)
            client = bench_load.Client(url)
            with pytest.raises(bench_load.HttpError, match=message):
                await client.request("POST", "/api/workorders/orders", b"{}")
            assert client.writer is None  # dropped: the next request starts afresh
            server.close()

    _run(main)
