"""Run Django views on ``http.request`` messages and encode their responses.

How this works
--------------
A worker hands an ``http.request`` message to :class:`ViewConsumer` (the default
route for that channel). The consumer asks its :class:`AsgiHandler` to process the
message: the handler builds an :class:`~channels.handler.AsgiRequest` (reading any
body chunks from the request's ``body_channel``), runs it through Django's
middleware and URL resolver exactly as the WSGI handler would, and encodes the
response into one or more ``http.response`` messages of at most 512 KB of content
each. The consumer sends every message straight away (not at the end of the
consumer), so large and streaming responses flow while they are produced, and it
waits with back-off while the reply channel is full.

A view that raises :class:`~channels.exceptions.ResponseLater` promises that some
other consumer will answer on ``request.reply_channel`` later (long-poll): the
handler turns it into an internal ``BaseException`` so it passes through every
middleware layer untouched (no 500 page, no error log) and sends nothing. Under
ATOMIC_REQUESTS the view's transaction is committed, since the view succeeded.
If encoding the response fails before anything was sent, the client gets a
plain 500 instead of waiting for Daphne's timeout.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core import signals
from django.core.handlers import base
from django.db import connections
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseServerError,
)
from django.urls import set_script_prefix

from channels._request import AsgiRequest, RequestMessageError, raw_layer, script_name_for
from channels.exceptions import RequestAborted, RequestTimeout, ResponseLater
from channels.message import pending_message_store

if TYPE_CHECKING:
    from channels.message import Message

__all__ = ["CHUNK_SIZE", "AsgiHandler", "AsgiRequest", "ViewConsumer", "send_reply"]

logger = logging.getLogger(__name__)

#: Largest amount of body content put into one ``http.response`` message.
CHUNK_SIZE = 512 * 1024


_SERVER_ERROR = {
    "status": 500,
    "headers": [[b"content-type", b"text/plain"]],
    "content": b"500 Internal Server Error",
    "more_content": False,
}


class _ResponseDeferred(BaseException):
    """Carry a view's ResponseLater past Django's exception-to-response layers."""


class _Deferred:
    """What a view that raised ResponseLater returns from inside its transaction."""

    def __init__(self, exception: ResponseLater) -> None:
        self.exception = exception


class AsgiHandler(base.BaseHandler):  # type: ignore[misc]
    """Handle ``http.request`` messages with Django's middleware and views.

    Call an instance with a message to get an iterator of ``http.response``
    messages; :meth:`encode_response` encodes any Django response.
    """

    request_class = AsgiRequest
    #: Most body bytes in one response message (also FileResponse's block size).
    chunk_size = CHUNK_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware()

    def __call__(self, message: Message) -> Iterator[dict[str, Any]]:
        """Process ``message`` through Django and yield its response messages."""
        try:
            set_script_prefix(script_name_for(message.content) or "/")
        except RequestMessageError:
            set_script_prefix("/")
        signals.request_started.send(sender=self.__class__, message=message)
        response = self._response_for(message)
        if response is None:
            # Nothing to send now (client went away, or the view answers later).
            signals.request_finished.send(sender=self.__class__)
            return
        response._handler_class = self.__class__
        try:
            yield from self.encode_response(response)
        finally:
            # Closes files and streams and sends request_finished.
            response.close()

    def _response_for(self, message: Message) -> HttpResponseBase | None:
        try:
            request = self.request_class(message)
        except RequestMessageError as exc:
            logger.warning("Bad http.request message, answering 400: %s", exc)
            return HttpResponseBadRequest(
                b"400 Bad Request (malformed request message)", content_type="text/plain"
            )
        except RequestTimeout:
            logger.info("Request body did not arrive in time, answering 408")
            return HttpResponse(
                b"408 Request Timeout (upload too slow)", status=408, content_type="text/plain"
            )
        except RequestAborted:
            logger.debug("Client went away while sending its request body")
            return None
        try:
            response: HttpResponseBase = self.get_response(request)
        except _ResponseDeferred:
            request.close()
            logger.debug("View for %s will respond later", request.path)
            return None
        except Exception:
            # Django turns view errors into 500 pages; this is the error page
            # itself failing, and there is no server above us to catch it.
            request.close()
            logger.exception("Internal Server Error while handling %s", request.path)
            return HttpResponseServerError(b"500 Internal Server Error", content_type="text/plain")
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

    def make_view_atomic(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap the view like Django does, committing (not rolling back) on ResponseLater.

        Under ATOMIC_REQUESTS a view that raises ResponseLater has done its part
        (registered the waiting client, say), so its transaction is committed.
        """
        if iscoroutinefunction(view) or not any(
            config.get("ATOMIC_REQUESTS") for config in connections.settings.values()
        ):
            plain: Callable[..., Any] = super().make_view_atomic(view)
            return plain

        @functools.wraps(view)
        def deferring(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except ResponseLater as exc:
                return _Deferred(exc)

        atomic_view = super().make_view_atomic(deferring)

        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            result = atomic_view(*args, **kwargs)
            if isinstance(result, _Deferred):
                raise _ResponseDeferred() from result.exception
            return result

        return run

    def process_exception_by_middleware(
        self, exception: Exception, request: AsgiRequest
    ) -> HttpResponseBase | None:
        """Let ResponseLater bypass exception middleware; pass others to it."""
        if isinstance(exception, ResponseLater):
            raise _ResponseDeferred() from exception
        result: HttpResponseBase | None = super().process_exception_by_middleware(
            exception, request
        )
        return result

    @classmethod
    def encode_response(cls, response: HttpResponseBase) -> Iterator[dict[str, Any]]:
        """Yield the ``http.response`` messages that carry ``response``.

        The first message has ``status`` and ``headers``; content is split into
        chunks of at most :attr:`chunk_size` bytes and every message but the
        last has ``more_content`` set. Streaming responses send their headers
        at once and each part as it is produced, then an empty final message.
        """
        status = response.status_code
        headers = cls.encode_headers(response)
        if response.streaming:
            if isinstance(response, FileResponse):
                response.block_size = cls.chunk_size
            yield {"status": status, "headers": headers, "content": b"", "more_content": True}
            for part in response:
                for piece in cls.chunk_bytes(part):
                    yield {"content": piece, "more_content": True}
            yield {"content": b"", "more_content": False}
            return
        pieces = list(cls.chunk_bytes(response.content)) or [b""]
        last = len(pieces) - 1
        for index, piece in enumerate(pieces):
            message: dict[str, Any] = {"content": piece, "more_content": index < last}
            if index == 0:
                message = {"status": status, "headers": headers, **message}
            yield message

    @staticmethod
    def encode_headers(response: HttpResponseBase) -> list[list[bytes]]:
        """Return the response's headers and cookies as ASGI ``[name, value]`` pairs."""
        headers = [
            [name.lower().encode("latin-1"), value.encode("latin-1")]
            for name, value in response.items()
        ]
        for morsel in response.cookies.values():
            headers.append([b"set-cookie", morsel.output(header="").strip().encode("latin-1")])
        return headers

    @classmethod
    def chunk_bytes(cls, data: bytes) -> Iterator[bytes]:
        """Yield ``data`` in pieces of at most :attr:`chunk_size` bytes (none if empty)."""
        size = cls.chunk_size
        if len(data) <= size:
            if data:
                yield bytes(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), size):
            yield bytes(view[start : start + size])


def send_reply(
    channel: Any,
    content: dict[str, Any],
    *,
    timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    time_fn: Callable[[], float] = time.monotonic,
) -> bool:
    """Send ``content`` on reply ``channel`` now, waiting while it is full.

    Backs off from 10 ms to 0.5 s between attempts. Return False (after a
    warning) if the channel stayed full for ``timeout`` seconds.
    """
    full = getattr(raw_layer(channel.channel_layer), "ChannelFull", None)
    errors: tuple[type[BaseException], ...] = (full,) if isinstance(full, type) else ()
    delay = 0.01
    deadline: float | None = None
    while True:
        try:
            channel.send(content, immediately=True)
            return True
        except errors:
            now = time_fn()
            if deadline is None:
                deadline = now + timeout
            elif now >= deadline:
                logger.warning(
                    "Reply channel %s stayed full for %.0f s; dropping the rest of the response",
                    channel.name,
                    timeout,
                )
                return False
            sleep(delay)
            delay = min(delay * 2, 0.5)


class ViewConsumer:
    """Consume ``http.request`` messages with Django's views (the default route).

    Each response message goes out as soon as it is produced, except the last
    one inside a worker loop, which the worker sends together with its next
    receive (one round trip for both on Redis). The handler is built on first
    use and rebuilt when ``settings.MIDDLEWARE`` changes.
    """

    handler_class: type[AsgiHandler] = AsgiHandler
    #: Seconds to keep retrying a full reply channel before giving up.
    reply_timeout = 60.0

    def __init__(self) -> None:
        self._handler: AsgiHandler | None = None
        self._middleware: object = None
        self._lock = threading.Lock()

    @property
    def handler(self) -> AsgiHandler:
        """Return the handler, loading middleware on first use."""
        middleware = settings.MIDDLEWARE
        with self._lock:
            if self._handler is None or self._middleware is not middleware:
                self._handler = self.handler_class()
                self._middleware = middleware
            return self._handler

    def __call__(self, message: Message, **kwargs: Any) -> None:
        """Run the view for ``message`` and send each response message to its client."""
        replies: Iterable[dict[str, Any]] = self.handler(message)
        reply_channel = message.reply_channel
        if reply_channel is None:
            logger.warning(
                "http.request message on %s has no reply_channel; running the view "
                "but its response cannot be delivered",
                message.channel.name,
            )
            for _reply in replies:
                pass
            return
        iterator = iter(replies)
        sent = 0
        try:
            for reply in iterator:
                if not reply.get("more_content", False) and pending_message_store.deferring():
                    # The last message: the worker sends it with its next receive.
                    reply_channel.send(reply)
                    sent += 1
                    continue
                if not send_reply(reply_channel, reply, timeout=self.reply_timeout):
                    break
                sent += 1
        except Exception:
            # Django already turned view errors into 500 pages; this is a failure
            # while encoding or streaming the response.
            logger.exception("Error while sending the response for %s", message.get("path"))
            if sent == 0:
                send_reply(reply_channel, _SERVER_ERROR, timeout=self.reply_timeout)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
