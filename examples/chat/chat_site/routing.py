"""Channel routing: the chat sockets under /chat/<room>/ and the chat-messages channel."""

from channels.routing import include, route
from chat.consumers import msg_consumer, ws_connect, ws_disconnect, ws_message

# Paths below are what is left after the include's r"^/chat" prefix.
chat_routing = [
    route("websocket.connect", ws_connect, path=r"^/(?P<room_name>[a-zA-Z0-9_]+)/$"),
    route("websocket.receive", ws_message, path=r"^/(?P<room_name>[a-zA-Z0-9_]+)/$"),
    route("websocket.disconnect", ws_disconnect, path=r"^/(?P<room_name>[a-zA-Z0-9_]+)/$"),
]

channel_routing = [
    include(chat_routing, path=r"^/chat"),
    route("chat-messages", msg_consumer),
]
