"""Pure view helpers of the file manager."""
from nyx_core.files import FileEntry
from nyx_core.files.present import (breadcrumb, is_training_config, join, language_for, parent_of,
                                    table_rows)


def test_breadcrumb_and_paths() -> None:
    assert breadcrumb("") == [("workspace", "")]
    assert breadcrumb("a/b") == [("workspace", ""), ("a", "a"), ("b", "a/b")]
    assert parent_of("a/b") == "a" and parent_of("a") == ""
    assert join("", "x") == "x" and join("a", "x") == "a/x"


def test_rows_and_helpers() -> None:
    rows = table_rows([FileEntry("d", "d", True, "folder", 0, 0.0), FileEntry("x.png", "x.png", False, "image", 2048, 0.0)])
    assert rows[0]["Name"].endswith(" d") and rows[0]["Size"] == "" and rows[0]["bytes"] == -1
    assert rows[1]["Size"] == "2.0 KB" and rows[1]["name"] == "x.png"
    assert language_for("a.TOML") == "toml" and language_for("a.bin") is None
    assert is_training_config("configs/run.toml") and not is_training_config("datasets/run.toml")
