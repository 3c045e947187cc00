"""Route every channel Daphne feeds to the recording consumers."""

from channels.routing import route

from stack_site import consumers

channel_routing = [
    route("http.request", consumers.http_request),
    route("http.disconnect", consumers.record_only),
    route("websocket.connect", consumers.ws_connect),
    route("websocket.receive", consumers.ws_receive),
    route("websocket.disconnect", consumers.ws_disconnect),
]
