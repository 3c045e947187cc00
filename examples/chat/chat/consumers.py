"""The chat consumers: the end state of the "Getting Started" tutorial.

- ``ws_connect`` checks the Origin (``allowed_hosts_only``), logs the user in
  from the HTTP session cookie (``channel_session_user_from_http``), remembers the
  room (taken from the path by the routing) in the channel session and joins
  the room's group;
- ``ws_message`` puts each frame on the ``chat-messages`` channel, in order
  (``enforce_ordering``);
- ``msg_consumer`` saves the message and broadcasts it to the room's group;
- ``ws_disconnect`` leaves the group.
"""

# ruff: noqa: UP031  (the consumers keep the manual's "chat-%s" % room spelling)

import json
import logging

from channels import Channel, Group
from channels.auth import channel_session_user, channel_session_user_from_http
from channels.security.websockets import allowed_hosts_only
from channels.sessions import enforce_ordering

from .models import ChatMessage

logger = logging.getLogger(__name__)

#: Longest message accepted from a browser, in characters.
MAX_MESSAGE_LENGTH = 2000


# Connected to chat-messages
def msg_consumer(message):
    # Save to model
    room = message.content["room"]
    chat_message = ChatMessage.objects.create(
        room=room,
        username=message.content["username"],
        message=message.content["message"],
    )
    # Broadcast to listening sockets
    Group("chat-%s" % room).send(
        {
            "text": json.dumps(chat_message.as_dict()),
        }
    )


# Connected to websocket.connect
@allowed_hosts_only
@enforce_ordering
@channel_session_user_from_http
def ws_connect(message, room_name):
    if not message.user.is_authenticated:
        # Only signed-in users may chat: reject the handshake (HTTP 403).
        message.reply_channel.send({"close": True})
        return
    # Save room in session and add us to the group
    message.channel_session["room"] = room_name
    Group("chat-%s" % room_name).add(message.reply_channel)
    # Accept the connection request
    message.reply_channel.send({"accept": True})


# Connected to websocket.receive
@enforce_ordering
@channel_session_user
def ws_message(message, room_name):
    text = message["text"]
    if not text or len(text) > MAX_MESSAGE_LENGTH:
        logger.info("Ignoring an empty, binary or oversized frame from %s", message.user)
        return
    # Stick the message onto the processing queue
    Channel("chat-messages").send(
        {
            "room": message.channel_session["room"],
            "username": message.user.username,
            "message": text,
        }
    )


# Connected to websocket.disconnect
@channel_session_user
def ws_disconnect(message, room_name):
    Group("chat-%s" % room_name).discard(message.reply_channel)
