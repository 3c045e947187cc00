"""Message encoding and encryption (no broker needed)."""

from __future__ import annotations

import msgpack
import pytest
from asgi_rabbitmq._codec import Codec, DecodeError


def test_plain_codec_keeps_bytes_and_str_distinct() -> None:
    codec = Codec()
    body = codec.seal(codec.encode({"b": b"x", "s": "x"}))
    assert codec.decode(body) == {"b": b"x", "s": "x"}
    assert not codec.encrypted


def test_encrypted_body_decodes_only_with_a_shared_key() -> None:
    sender = Codec(["new", b"old"])
    body = sender.seal(sender.encode({"n": 1}))
    assert Codec(["old"]).decode(Codec(["old"]).seal(Codec().encode({"n": 2}))) == {"n": 2}
    assert Codec(["other", "new"]).decode(body) == {"n": 1}
    with pytest.raises(DecodeError, match="symmetric_encryption_keys"):
        Codec(["wrong"]).decode(body)


def test_garbage_and_non_dict_bodies_raise_decode_error() -> None:
    with pytest.raises(DecodeError, match="msgpack"):
        Codec().decode(b"\xc1")
    with pytest.raises(DecodeError, match="list"):
        Codec().decode(msgpack.packb([1, 2]))


def test_bad_keys_are_refused_naming_the_position() -> None:
    with pytest.raises(TypeError, match=r"symmetric_encryption_keys\[1\]"):
        Codec(["good", ""])
