"""Build a Django HttpRequest from an ASGI ``http.request`` message.

How this works
--------------
The message (shared/spec/www.rst) maps onto WSGI's environ: ``method`` ->
REQUEST_METHOD, ``root_path`` (or ``settings.FORCE_SCRIPT_NAME``) -> SCRIPT_NAME,
``path`` minus the script name -> PATH_INFO, ``query_string`` -> QUERY_STRING,
``server``/``client`` -> SERVER_NAME/PORT and REMOTE_ADDR/PORT, and each header ->
``HTTP_<NAME>`` (``CONTENT_TYPE``/``CONTENT_LENGTH`` unprefixed, repeated headers
joined with ``,``, cookies with ``;``). Header names containing ``_`` are dropped,
as Django's runserver does, so ``X_Forwarded`` cannot pose as ``X-Forwarded``.

The body is ``body`` followed, when ``body_channel`` is set, by the ``content`` of
each Request Body Chunk read from that channel until one has ``more_content``
false. A chunk with ``closed`` raises RequestAborted; no chunk for
``body_receive_timeout`` seconds raises RequestTimeout (the clock restarts with
every chunk, so slow but steady uploads finish). Chunked bodies are spooled to a
temporary file beyond FILE_UPLOAD_MAX_MEMORY_SIZE, so memory stays bounded;
Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check then applies to ``request.body``
and form parsing as it does under WSGI (the real size counts when no
Content-Length header was sent).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from io import BytesIO
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, QueryDict, parse_cookie

from channels.exceptions import RequestAborted, RequestTimeout, ResponseLater

if TYPE_CHECKING:
    from channels.message import Message

__all__ = ["AsgiRequest", "RequestMessageError", "raw_layer", "script_name_for"]

logger = logging.getLogger(__name__)


class RequestMessageError(ValueError):
    """Raise when an ``http.request`` message is malformed (answered with 400)."""


def raw_layer(layer: Any) -> Any:
    """Return the ASGI layer behind a channels layer wrapper (or ``layer`` itself)."""
    return getattr(layer, "channel_layer", layer)


def _text(content: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = content.get(key, default)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestMessageError(
                f"http.request {key!r} is not valid UTF-8: {value!r}"
            ) from exc
    if not isinstance(value, str):
        raise RequestMessageError(
            f"http.request {key!r} is {value!r}; it must be a string"
            + ("." if default is not None else " and is required.")
        )
    return value


def _bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        # Tolerate servers that send text; keep the raw octets for WSGI-style META.
        return value.encode("utf-8")
    raise RequestMessageError(f"http.request {what} is {value!r}; it must be a byte string.")


def script_name_for(content: Mapping[str, Any]) -> str:
    """Return SCRIPT_NAME for a message: FORCE_SCRIPT_NAME, else its ``root_path``."""
    if settings.FORCE_SCRIPT_NAME is not None:
        return str(settings.FORCE_SCRIPT_NAME)
    return _text(content, "root_path", "")


def _split_path(path: str, script_name: str) -> tuple[str, str]:
    """Return (request.path, PATH_INFO) for a full ``path`` under ``script_name``."""
    prefix = script_name.rstrip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path_info = path[len(prefix) :] or "/"
        return prefix + path_info, path_info
    path_info = path or "/"
    if prefix and path_info.startswith("/"):
        # The server already stripped the prefix (FORCE_SCRIPT_NAME behind a proxy).
        return prefix + path_info, path_info
    return path_info, path_info


def _address(content: Mapping[str, Any], key: str) -> tuple[str, str] | None:
    value = content.get(key)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise RequestMessageError(f"http.request {key!r} is {value!r}; it must be [host, port].")
    host, port = value
    return str(host), str(port)


class AsgiRequest(HttpRequest):  # type: ignore[misc]
    """A Django ``HttpRequest`` decoded from an ASGI ``http.request`` message.

    ``message`` is a :class:`channels.message.Message`; the request keeps it as
    ``.message`` and its reply channel as ``.reply_channel``.
    """

    #: Kept for 1.x code that catches ``AsgiRequest.ResponseLater`` and friends.
    ResponseLater = ResponseLater
    RequestTimeout = RequestTimeout
    RequestAborted = RequestAborted

    #: Seconds to wait for the next body chunk before answering 408.
    body_receive_timeout: float = 60.0
    #: Clock for the body timeout (injectable in tests).
    time_fn: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, message: Message) -> None:
        self.message = message
        self.reply_channel = message.reply_channel
        content: Mapping[str, Any] = message.content
        self.resolver_match = None
        self._read_started = False
        self._post_parse_error = False

        self.script_name = script_name_for(content)
        path = _text(content, "path")
        self.path, self.path_info = _split_path(path, self.script_name)
        self.method = _text(content, "method").upper()
        if not self.method:
            raise RequestMessageError("http.request 'method' is empty.")
        self._query_string = _bytes(content.get("query_string", b""), "'query_string'")

        self.META = self._build_meta(content)
        self._set_content_type_params(self.META)
        self._stream: IO[bytes] = self._read_body(content)

    # Environ ------------------------------------------------------------------

    def _build_meta(self, content: Mapping[str, Any]) -> dict[str, Any]:
        version = _text(content, "http_version", "1.1")
        meta: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "QUERY_STRING": self._query_string.decode("latin-1"),
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": self.path_info,
            "SERVER_PROTOCOL": f"HTTP/{version}",
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
        }
        server = _address(content, "server")
        meta["SERVER_NAME"], meta["SERVER_PORT"] = server or ("unknown", "0")
        client = _address(content, "client")
        if client is not None:
            meta["REMOTE_ADDR"] = meta["REMOTE_HOST"] = client[0]
            meta["REMOTE_PORT"] = client[1]
        headers = content.get("headers", [])
        if not isinstance(headers, list | tuple):
            raise RequestMessageError(
                f"http.request 'headers' is {headers!r}; it must be a list of [name, value]."
            )
        for item in headers:
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise RequestMessageError(
                    f"http.request header {item!r} is not a [name, value] pair."
                )
            name = _bytes(item[0], "header name").decode("latin-1").lower()
            value = _bytes(item[1], f"value of header {name!r}").decode("latin-1")
            if "_" in name:
                logger.debug("Dropping request header with an underscore: %r", name)
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if key in meta:
                separator = "; " if key == "HTTP_COOKIE" else ","
                meta[key] = meta[key] + separator + value
            else:
                meta[key] = value
        return meta

    def _get_scheme(self) -> str:
        scheme = self.message.content.get("scheme") or "http"
        return str(scheme)

    # Body ---------------------------------------------------------------------

    def _read_body(self, content: Mapping[str, Any]) -> IO[bytes]:
        body = _bytes(content.get("body", b""), "'body'")
        body_channel = content.get("body_channel")
        if body_channel is None:
            stream: IO[bytes] = BytesIO(body)
            size = len(body)
        else:
            if not isinstance(body_channel, str):
                raise RequestMessageError(
                    f"http.request 'body_channel' is {body_channel!r}; it must be a channel name."
                )
            stream = tempfile.SpooledTemporaryFile(
                max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
                dir=settings.FILE_UPLOAD_TEMP_DIR,
            )
            try:
                stream.write(body)
                size = len(body) + self._read_chunks(body_channel, stream)
            except BaseException:
                stream.close()
                raise
            stream.seek(0)
        if size and "CONTENT_LENGTH" not in self.META:
            self.META["CONTENT_LENGTH"] = str(size)
        return stream

    def _read_chunks(self, body_channel: str, stream: IO[bytes]) -> int:
        """Append body chunks from ``body_channel`` to ``stream``; return bytes added."""
        layer = raw_layer(self.message.channel_layer)
        added = 0
        deadline = self.time_fn() + self.body_receive_timeout
        while True:
            started = self.time_fn()
            _channel, chunk = layer.receive([body_channel], block=True)
            now = self.time_fn()
            if chunk is None:
                if now >= deadline:
                    raise RequestTimeout(
                        f"No body chunk on {body_channel!r} for "
                        f"{self.body_receive_timeout:g} seconds."
                    )
                if now - started < 0.005:
                    # A layer whose blocking receive returns at once: do not spin.
                    time.sleep(0.01)
                continue
            if chunk.get("closed"):
                raise RequestAborted(
                    f"Client closed the connection during upload ({body_channel})."
                )
            piece = _bytes(chunk.get("content", b""), "body chunk 'content'")
            stream.write(piece)
            added += len(piece)
            if not chunk.get("more_content", False):
                return added
            deadline = now + self.body_receive_timeout

    # Lazy Django request attributes -----------------------------------------

    @cached_property
    def GET(self) -> QueryDict:
        """Return the query string parameters."""
        return QueryDict(self._query_string, encoding=self._encoding)

    @cached_property
    def COOKIES(self) -> dict[str, str]:
        """Return the cookies sent with the request."""
        raw = self.META.get("HTTP_COOKIE", "").encode("latin-1").decode("utf-8", "replace")
        cookies: dict[str, str] = parse_cookie(raw)
        return cookies

    def _get_post(self) -> QueryDict:
        if not hasattr(self, "_post"):
            self._load_post_and_files()
        return self._post

    def _set_post(self, post: QueryDict) -> None:
        self._post = post

    POST = property(_get_post, _set_post)

    @property
    def FILES(self) -> Any:
        """Return the uploaded files."""
        if not hasattr(self, "_files"):
            self._load_post_and_files()
        return self._files

    def close(self) -> None:
        """Close uploaded files and the spooled body."""
        super().close()
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.close()
