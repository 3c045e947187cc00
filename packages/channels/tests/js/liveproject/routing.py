"""Channel routing: the demultiplexed socket at /mux/."""

from channels.routing import route_class

from liveproject.bindings import Demultiplexer

channel_routing = [route_class(Demultiplexer, path=r"^/mux/$")]
