"""Names, capacities and message rules shared by every layer."""

from __future__ import annotations

import re

import pytest
from asgiref.base_layer import (
    DEFAULT_MESSAGE_SIZE_LIMIT,
    BaseChannelLayer,
    compile_capacities,
    copy_message,
    validate_message,
)
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture
def layer() -> BaseChannelLayer:
    return BaseChannelLayer(
        capacity=10,
        channel_capacity={"http.response!*": 5, re.compile(r"^websocket\.send!"): 20, "big*": 50},
    )


@pytest.mark.parametrize(
    "name", ["http.request", "a", "x-y_z.1", "reply?abc", "daphne.response.ab!cd", "x" * 199]
)
def test_valid_channel_names_are_accepted(layer: BaseChannelLayer, name: str) -> None:
    assert layer.require_channel_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 200, "a b", "a?b?c", "a!b!c", "a?b!c", "ü", "?abc", 42, None, b"abc"]
)
def test_invalid_channel_names_raise_type_error_naming_value(
    layer: BaseChannelLayer, name: object
) -> None:
    with pytest.raises(TypeError) as info:
        layer.require_channel_name(name)
    assert "name" in str(info.value)


def test_receive_accepts_prefix_but_not_full_process_specific_name(
    layer: BaseChannelLayer,
) -> None:
    assert layer.require_receive_names(["a", "b?c", "d!"]) == ["a", "b?c", "d!"]
    with pytest.raises(TypeError, match="prefix 'd!'"):
        layer.require_receive_names(["d!e"])


def test_receive_rejects_a_bare_string(layer: BaseChannelLayer) -> None:
    with pytest.raises(TypeError, match=r"pass \['abc'\]"):
        layer.require_receive_names("abc")


@pytest.mark.parametrize("name", ["a?b", "a!b", "a!", "", "x" * 200])
def test_group_names_have_no_type_characters(layer: BaseChannelLayer, name: str) -> None:
    with pytest.raises(TypeError):
        layer.require_group_name(name)
    assert layer.require_group_name("chat-room_1.x") == "chat-room_1.x"


def test_new_channel_pattern_must_end_in_question_mark(layer: BaseChannelLayer) -> None:
    assert layer.require_new_channel_pattern("http.response?") == "http.response?"
    with pytest.raises(TypeError, match="local part"):
        layer.require_new_channel_pattern("http.response!")
    with pytest.raises(TypeError):
        layer.require_new_channel_pattern("http.response")
    with pytest.raises(TypeError):
        layer.require_new_channel_pattern("bad name?")


def test_capacity_first_matching_pattern_wins(layer: BaseChannelLayer) -> None:
    assert layer.get_capacity("http.request") == 10
    assert layer.get_capacity("http.response!abc") == 5
    assert layer.get_capacity("websocket.send!xyz") == 20
    assert layer.get_capacity("bigchannel") == 50


def test_capacity_patterns_are_validated() -> None:
    with pytest.raises(ValueError, match="positive int"):
        compile_capacities({"a": 0})
    with pytest.raises(TypeError, match="glob string or a compiled regex"):
        compile_capacities({3: 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="dict"):
        compile_capacities([("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity"):
        BaseChannelLayer(capacity=0)
    with pytest.raises(ValueError, match="expiry"):
        BaseChannelLayer(expiry=-1)


def test_non_local_name() -> None:
    assert BaseChannelLayer.non_local_name("a.b!c") == "a.b!"
    assert BaseChannelLayer.non_local_name("a.b") == "a.b"


def test_copy_message_converts_tuples_and_is_independent() -> None:
    original = {"a": (1, 2, [3]), "b": {"c": b"x"}}
    copied, size = copy_message(original)
    assert copied == {"a": [1, 2, [3]], "b": {"c": b"x"}}
    copied["b"]["c"] = b"y"
    copied["a"][2].append(4)
    assert original == {"a": (1, 2, [3]), "b": {"c": b"x"}}
    assert size > 0


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not a dict", TypeError),
        ({1: "int key"}, TypeError),
        ({"set": {1, 2}}, TypeError),
        ({"obj": object()}, TypeError),
        ({"big": 2**63}, ValueError),
        ({"small": -(2**63) - 1}, ValueError),
        ({"nested": {"deep": [{"k": object()}]}}, TypeError),
    ],
)
def test_invalid_messages_are_rejected(message: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_message(message)  # type: ignore[arg-type]


def test_int64_extremes_are_accepted() -> None:
    copied, _ = copy_message({"max": 2**63 - 1, "min": -(2**63)})
    assert copied == {"max": 2**63 - 1, "min": -(2**63)}


def test_one_megabyte_fits_and_larger_raises_message_too_large() -> None:
    layer = BaseChannelLayer()
    layer.check_message({"body": b"x" * 1_000_000, "text": "y"})
    with pytest.raises(BaseChannelLayer.MessageTooLarge, match="limit"):
        layer.check_message({"body": b"x" * (DEFAULT_MESSAGE_SIZE_LIMIT + 1)})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_copy_message_round_trips_every_spec_value(message: dict[str, object]) -> None:
    copied, _ = copy_message(message)
    assert copied == message


def test_receive_many_is_a_deprecated_alias() -> None:
    from asgiref.inmemory import ChannelLayer

    layer = ChannelLayer()
    layer.send("a", {"x": 1})
    with pytest.warns(DeprecationWarning, match="receive"):
        assert layer.receive_many(["a"]) == ("a", {"x": 1})
