import asgi_ipc


def test_exported_names_are_exactly_the_layer() -> None:
    assert asgi_ipc.__all__ == ["IPCChannelLayer"]
    assert asgi_ipc.IPCChannelLayer.extensions == ["groups", "flush", "statistics", "async"]


def test_testing_module_exports() -> None:
    from asgi_ipc import testing

    assert testing.__all__ == ["TemporaryIPCChannelLayer", "remove_prefix", "session_prefix"]
