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

#: The keys every WSGI server sets from each request (PEP 3333 and CGI): always the request's.
REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
        "GATEWAY_INTERFACE",
        "REMOTE_ADDR",
    }
)


#: Keys some requests bring and others do not, besides the headers (``HTTP_…``).
OPTIONAL_KEYS = frozenset(
    {"CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_HOST", "REMOTE_PORT", "RAW_URI", "REQUEST_URI"}
)


def _optional(key: str) -> bool:
    return key.startswith("HTTP_") or key in OPTIONAL_KEYS


class WithoutProcessEnvironment:
    """Call ``app`` with the environ minus the variables of this process's environment.

    A variable named like a key every server sets from the request (``PATH_INFO``, …) is left
    to the request. Any other that a request may or may not bring — a header (``HTTP_PROXY``),
    ``CONTENT_TYPE``, ``CONTENT_LENGTH``, ``REMOTE_PORT`` … — is removed when the environ still
    holds the process's value for it, i.e. when the request did not send it with another
    value. Every other variable is removed."""

    def __init__(self, app: Callable[..., Any], environment: dict[str, str] | None = None) -> None:
        self.app = app
        process = dict(os.environ if environment is None else environment)
        self.plain = tuple(k for k in process if k not in REQUEST_KEYS and not _optional(k))
        self.optional = tuple((k, v) for k, v in process.items() if _optional(k))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        pop = environ.pop
        for key in self.plain:
            pop(key, None)
        for key, value in self.optional:
            if environ.get(key) == value:
                del environ[key]
        return self.app(environ, start_response)
