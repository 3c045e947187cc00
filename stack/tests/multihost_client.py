"""Chat as two signed-in users through the tutorial site; print the outcome as JSON.

Run inside the client network namespace by test_multihost.py:
``python multihost_client.py http://10.231.0.1:8000 <room> <name-suffix>``.
Exit status 0 and ``{"ok": true, ...}`` when both users saw both lines.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import httpx
import websockets

TIMEOUT = 30


def sign_in(base: str, username: str) -> httpx.Client:
    """Return an HTTP client signed in to the chat site as ``username``."""
    client = httpx.Client(base_url=base, timeout=TIMEOUT)
    form = client.get("/login/")
    form.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError(f"no CSRF token on the login page: {form.text[:200]!r}")
    response = client.post(
        "/login/",
        data={"username": username, "csrfmiddlewaretoken": token.group(1), "next": "/"},
        headers={"Referer": f"{base}/login/"},
    )
    if response.status_code != 302:
        raise RuntimeError(f"sign-in as {username} answered {response.status_code}")
    return client


async def chat(base: str, room: str, alice: httpx.Client, bob: httpx.Client) -> dict[str, Any]:
    ws_base = base.replace("http://", "ws://")

    def headers(client: httpx.Client) -> dict[str, str]:
        return {"Origin": base, "Cookie": f"sessionid={client.cookies['sessionid']}"}

    async def receive(socket: Any) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))

    url = f"{ws_base}/chat/{room}/"
    async with (
        websockets.connect(url, additional_headers=headers(alice), open_timeout=TIMEOUT) as a,
        websockets.connect(url, additional_headers=headers(bob), open_timeout=TIMEOUT) as b,
    ):
        await a.send("hello from alice")
        seen_by_bob = await receive(b)
        seen_by_alice = await receive(a)
        await b.send("hi from bob")
        reply_to_alice = await receive(a)
    return {
        "ok": seen_by_bob == seen_by_alice
        and seen_by_bob["message"] == "hello from alice"
        and reply_to_alice["message"] == "hi from bob"
        and reply_to_alice["username"].startswith("bob"),
        "seen_by_bob": seen_by_bob,
        "reply_to_alice": reply_to_alice,
    }


def main() -> int:
    base, room, suffix = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        alice = sign_in(base, f"alice{suffix}")
        bob = sign_in(base, f"bob{suffix}")
        result = asyncio.run(chat(base, room, alice, bob))
        page = alice.get(f"/rooms/{room}/")
        result["saved"] = "hello from alice" in page.text and "hi from bob" in page.text
        result["ok"] = result["ok"] and result["saved"]
    except Exception as exc:  # report any failure as data for the test's retry loop
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
