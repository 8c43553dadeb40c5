"""A WSGI wrapper that keeps the server process's environment out of ``request.META``.

granian builds every request's WSGI environ on top of a copy of ``os.environ``, and so does
``wsgiref`` under Django's ``runserver`` (gunicorn does not). Without this, ``request.META``
would carry ``SECRET_KEY``, ``DATABASE_URL`` with its password and whatever else the server
was started with into anything that shows or logs ``META`` (Django's error reports among
them), and a variable such as ``HTTP_PROXY`` would look like a request header. The wrapper
removes the process's variables again; the request's own keys (its method, path, headers,
…) stay, even when a variable of the same name exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

#: The keys a WSGI server sets from the request itself (PEP 3333 and CGI).
REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
        "GATEWAY_INTERFACE",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "REMOTE_PORT",
        "RAW_URI",
        "REQUEST_URI",
    }
)


class WithoutProcessEnvironment:
    """Call ``app`` with the environ minus the variables of this process's environment.

    A variable named like a request key (``PATH_INFO``, …) is left to the request. One named
    like a header (``HTTP_PROXY``) is removed when the environ still holds the process's
    value for it, i.e. when the request did not send that header with another value."""

    def __init__(self, app: Callable[..., Any], environment: dict[str, str] | None = None) -> None:
        self.app = app
        process = dict(os.environ if environment is None else environment)
        self.plain = tuple(k for k in process if k not in REQUEST_KEYS and not k.startswith("HTTP_"))
        self.headers = tuple((k, v) for k, v in process.items() if k.startswith("HTTP_"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        pop = environ.pop
        for key in self.plain:
            pop(key, None)
        for key, value in self.headers:
            if environ.get(key) == value:
                del environ[key]
        return self.app(environ, start_response)
