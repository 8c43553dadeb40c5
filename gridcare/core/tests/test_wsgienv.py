"""The server process's environment stays out of the request's WSGI environ
(``gridcare.core.wsgienv``): granian and wsgiref copy ``os.environ`` into every environ."""

from __future__ import annotations

from typing import Any

from gridcare.core.wsgienv import WithoutProcessEnvironment

PROCESS = {
    "SECRET_KEY": "not-for-requests",
    "DATABASE_URL": "postgres://gridcare:s3cret@db/gridcare",
    "PATH": "/usr/bin",
    "PATH_INFO": "/from-the-process",
    "HTTP_PROXY": "http://proxy.example:3128",
    "CONTENT_TYPE": "text/x-from-the-process",
}


def _call(request: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return [b""]

    # As granian builds it: the process's variables, then the request's keys over them.
    environ = {**PROCESS, **request}
    assert WithoutProcessEnvironment(app, PROCESS)(environ, lambda *a: None) == [b""]
    return seen


def test_process_variables_are_removed_and_the_request_keys_kept():
    seen = _call(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/workorders/orders",
            "QUERY_STRING": "",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_COOKIE": "sessionid=abc",
            "wsgi.url_scheme": "http",
        }
    )
    for name in ("SECRET_KEY", "DATABASE_URL", "PATH", "HTTP_PROXY", "CONTENT_TYPE"):
        assert name not in seen
    assert seen["PATH_INFO"] == "/api/workorders/orders"  # the request's, not the process's
    assert seen["HTTP_HOST"] == "127.0.0.1:8000"
    assert seen["HTTP_COOKIE"] == "sessionid=abc"
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["wsgi.url_scheme"] == "http"


def test_a_header_sent_with_its_own_value_is_the_requests():
    seen = _call(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "HTTP_PROXY": "sent-by-the-client",
            "CONTENT_TYPE": "application/json",
        }
    )
    assert seen["HTTP_PROXY"] == "sent-by-the-client"
    assert seen["CONTENT_TYPE"] == "application/json"


def test_the_served_application_is_wrapped():
    from gridcare import wsgi
    from gridcare.workorders.fastpath import FastIntake

    assert isinstance(wsgi.application, WithoutProcessEnvironment)
    assert isinstance(wsgi.application.app, FastIntake)
    assert wsgi.application.app is wsgi.intake
