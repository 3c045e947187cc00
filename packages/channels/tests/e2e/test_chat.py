"""The tutorial chat site works end to end over real Daphne and runworker processes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.services

TIMEOUT = 60


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    """Collect the HTTP clients a test opens and close them afterwards."""
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def sign_in(site: Any, clients: list[httpx.Client], username: str) -> httpx.Client:
    """Return an HTTP client signed in to the chat site as ``username``."""
    client = httpx.Client(base_url=site.http_url, timeout=TIMEOUT)
    clients.append(client)
    form = client.get("/login/")
    assert form.status_code == 200, site.output()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text
    response = client.post(
        "/login/",
        data={"username": username, "csrfmiddlewaretoken": token.group(1), "next": "/"},
        headers={"Referer": f"{site.http_url}/login/"},
    )
    assert response.status_code == 302, response.text
    assert "sessionid" in client.cookies
    return client


def _headers(site: Any, client: httpx.Client | None, origin: str | None = None) -> dict[str, str]:
    headers = {"Origin": origin or site.http_url}
    if client is not None:
        headers["Cookie"] = f"sessionid={client.cookies['sessionid']}"
    return headers


async def _receive_json(socket: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))


def test_two_signed_in_sockets_chat_in_a_room(deployment: Any, clients: list[httpx.Client]) -> None:
    alice, bob = sign_in(deployment, clients, "alice"), sign_in(deployment, clients, "bob")
    url = f"{deployment.ws_url}/chat/lobby/"

    async def chat() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with (
            websockets.connect(
                url, additional_headers=_headers(deployment, alice), open_timeout=TIMEOUT
            ) as alice_ws,
            websockets.connect(
                url, additional_headers=_headers(deployment, bob), open_timeout=TIMEOUT
            ) as bob_ws,
        ):
            await alice_ws.send("hello bob")
            to_alice = await _receive_json(alice_ws)
            to_bob = await _receive_json(bob_ws)
            await bob_ws.send("hi alice")
            reply = await _receive_json(alice_ws)
            return to_alice, to_bob, reply

    to_alice, to_bob, reply = asyncio.run(chat())
    assert to_alice == to_bob
    assert to_bob["username"] == "alice"
    assert to_bob["message"] == "hello bob"
    assert to_bob["room"] == "lobby"
    assert (reply["username"], reply["message"]) == ("bob", "hi alice")
    # The chat-messages consumer saved both lines: the room page (served by a worker) shows them.
    page = alice.get("/rooms/lobby/")
    assert page.status_code == 200
    assert "hello bob" in page.text and "hi alice" in page.text


def test_rooms_are_separate_groups(deployment: Any, clients: list[httpx.Client]) -> None:
    carol = sign_in(deployment, clients, "carol")
    headers = _headers(deployment, carol)

    async def chat() -> dict[str, Any]:
        async with (
            websockets.connect(
                f"{deployment.ws_url}/chat/kitchen/", additional_headers=headers
            ) as kitchen,
            websockets.connect(
                f"{deployment.ws_url}/chat/garden/", additional_headers=headers
            ) as garden,
        ):
            await garden.send("only the garden hears this")
            await kitchen.send("kitchen news")
            # The kitchen socket's first message is its own room's, not the garden's.
            return await _receive_json(kitchen)

    first = asyncio.run(chat())
    assert (first["room"], first["message"]) == ("kitchen", "kitchen news")


def test_socket_without_a_session_is_rejected(deployment: Any) -> None:
    async def connect() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(
                f"{deployment.ws_url}/chat/lobby/",
                additional_headers=_headers(deployment, None),
                open_timeout=TIMEOUT,
            ):
                pass
        return int(info.value.response.status_code)

    assert asyncio.run(connect()) == 403


def test_socket_from_a_foreign_origin_is_rejected(
    deployment: Any, clients: list[httpx.Client]
) -> None:
    dave = sign_in(deployment, clients, "dave")

    async def connect() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(
                f"{deployment.ws_url}/chat/lobby/",
                additional_headers=_headers(deployment, dave, origin="http://evil.example"),
                open_timeout=TIMEOUT,
            ):
                pass
        return int(info.value.response.status_code)

    assert asyncio.run(connect()) == 403


def test_runworker_serves_static_files_in_debug(deployment: Any) -> None:
    response = httpx.get(f"{deployment.http_url}/static/chat/chat.js", timeout=TIMEOUT)
    assert response.status_code == 200
    assert "new WebSocket" in response.text


def test_pages_need_sign_in(deployment: Any) -> None:
    response = httpx.get(f"{deployment.http_url}/rooms/lobby/", timeout=TIMEOUT)
    assert response.status_code == 302
    assert response.headers["location"] == "/login/?next=/rooms/lobby/"
