"""The sidebar's device and dtype override: it reaches the loaded model and the export manifest."""

from tests.app_driver import exception_messages, navigation_only, start_app


def capture_record(app) -> dict:
    """Return the manifest shown in the page's capture record table, as field name to displayed value."""
    table = app.dataframe[0].value
    return dict(zip(table.iloc[:, 0], table.iloc[:, 1]))


def test_dtype_override_loads_bfloat16():
    with navigation_only():
        app = start_app()
        app.session_state["atlas.dtype"] = "bfloat16"
        app.run()
    assert exception_messages(app) == []
    assert app.selectbox(key="atlas.dtype").value == "bfloat16"
    assert capture_record(app)["dtype"] == "bfloat16"


def test_default_hardware_uses_server_settings():
    with navigation_only():
        app = start_app()
    assert exception_messages(app) == []
    assert app.selectbox(key="atlas.device").value is None
    assert capture_record(app)["dtype"] == "float32"
    assert capture_record(app)["device"] == "cpu"
