"""AppTest for pages/files.py: real files behind every click."""
from __future__ import annotations

from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def _page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "files.py"), default_timeout=30).run()


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_create_folder_delete_restore(ws) -> None:
    at = _page()
    assert not at.exception
    at.text_input(key="files_new_folder").input("my set")
    at.button(key="files_mkdir").click().run()
    assert (ws.root / "my set").is_dir() and not _errors(at)
    assert "my set" in at.multiselect(key="files_select").options

    at.multiselect(key="files_select").set_value(["my set"]).run()
    at.button(key="files_delete").click().run()
    assert (ws.root / "my set").is_dir()  # not before confirming
    at.button(key="files_delete_yes").click().run()
    assert not (ws.root / "my set").exists()
    restore = [b for b in at.button if (b.key or "").startswith("restore:")]
    assert len(restore) == 1
    restore[0].click().run()
    assert (ws.root / "my set").is_dir() and not list(ws.trash.iterdir())
    assert any("Restored my set" in s.value for s in at.success)


def test_navigate_rename_move_and_empty_trash(ws) -> None:
    (ws.datasets / "a").mkdir()
    (ws.datasets / "a" / "x.txt").write_text("hello")
    at = _page()
    at.button(key="tree:datasets").click().run()
    assert at.session_state["files_cwd"] == "datasets"
    at.button(key="tree:datasets/a").click().run()
    at.multiselect(key="files_select").set_value(["x.txt"]).run()
    assert any("hello" in c.value for c in at.code)  # text preview
    at.text_input(key="files_new_name:datasets/a/x.txt").input("y.txt")
    at.button(key="files_rename").click().run()
    assert (ws.datasets / "a" / "y.txt").read_text() == "hello"
    at.text_input(key="files_target").input("configs")
    at.button(key="files_copy").click().run()
    assert (ws.configs / "y.txt").read_text() == "hello" and (ws.datasets / "a" / "y.txt").exists()
    at.button(key="files_move").click().run()  # clash: asks instead of overwriting
    assert at.warning and (ws.datasets / "a" / "y.txt").exists()
    at.button(key="crumb:").click().run()
    assert at.session_state["files_cwd"] == ""
    at.multiselect(key="files_select").set_value(["configs"]).run()
    at.button(key="files_delete").click().run()
    at.button(key="files_delete_yes").click().run()
    assert any("layout" in e for e in _errors(at)) and ws.configs.is_dir()

    (ws.root / "junk.txt").write_text("j")
    at.run()
    at.multiselect(key="files_select").set_value(["junk.txt"]).run()
    at.button(key="files_delete").click().run()
    at.button(key="files_delete_yes").click().run()
    at.button(key="files_empty").click().run()
    at.button(key="files_empty_yes").click().run()
    assert list(ws.trash.iterdir()) == []


def test_edit_toml_invalid_not_saved_then_valid(ws) -> None:
    cfg = ws.configs / "run.toml"
    cfg.write_text('lr = 1e-4\n')
    at = _page()
    at.button(key="tree:configs").click().run()
    at.multiselect(key="files_select").set_value(["run.toml"]).run()
    assert at.button(key="files_open_training")
    at.toggle(key="files_edit:configs/run.toml").set_value(True).run()
    at.text_area(key="files_text:configs/run.toml").input('lr = 1e-4\nsteps = = 3\n')
    at.button(key="files_save").click().run()
    assert any("line 2" in e for e in _errors(at))
    assert cfg.read_text() == "lr = 1e-4\n"
    at.text_area(key="files_text:configs/run.toml").input('lr = 1e-4\nsteps = 3\n')
    at.button(key="files_save").click().run()
    assert cfg.read_text() == 'lr = 1e-4\nsteps = 3\n' and not _errors(at)


def test_image_preview_add_to_dataset_and_search(ws) -> None:
    (ws.datasets / "cats" / "10_cat").mkdir(parents=True)
    Image.new("RGB", (300, 200), (9, 9, 9)).save(ws.root / "pic.jpg")
    at = _page()
    at.multiselect(key="files_select").set_value(["pic.jpg"]).run()
    assert not at.exception and list((ws.cache / "thumbs").rglob("*.jpg"))
    at.selectbox(key="files_dataset_target").set_value("datasets/cats/10_cat").run()
    at.button(key="files_add_dataset").click().run()
    assert (ws.datasets / "cats" / "10_cat" / "pic.jpg").is_file() and (ws.root / "pic.jpg").is_file()

    at.text_input(key="files_search").input("pic").run()
    assert at.selectbox(key="files_search_pick").options == ["pic.jpg", "datasets/cats/10_cat/pic.jpg"]
    at.selectbox(key="files_search_pick").set_value("datasets/cats/10_cat/pic.jpg").run()
    at.button(key="files_search_go").click().run()
    assert at.session_state["files_cwd"] == "datasets/cats/10_cat"
    assert at.multiselect(key="files_select").value == ["pic.jpg"]


def test_open_in_training_switches_page(ws) -> None:
    (ws.configs / "run.toml").write_text("a = 1\n")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=30)
    at.switch_page("pages/files.py").run()
    at.button(key="tree:configs").click().run()
    at.multiselect(key="files_select").set_value(["run.toml"]).run()
    at.button(key="files_open_training").click().run()
    assert not at.exception
    # The Training page consumes "training_config_path"; here it is enough that it took over.
    assert "Files" not in [t.value for t in at.title]


def _main_order(at: AppTest) -> list[str]:
    """The main area's elements in page order: 'success:<text>' for messages, 'button:<key>'."""
    out = []

    def walk(node) -> None:  # noqa: ANN001
        kind = type(node).__name__
        if kind == "Success":
            out.append(f"success:{node.value}")
        elif kind == "Button":
            out.append(f"button:{node.key}")
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    return out


def test_action_results_sit_next_to_their_action(ws) -> None:
    """On a long page the top is out of sight: each outcome shows in the part where it was clicked."""
    at = _page()
    at.text_input(key="files_new_folder").input("shots")
    at.button(key="files_mkdir").click().run()
    order = _main_order(at)
    made = order.index("success:Created folder shots")
    assert made > order.index("button:files_mkdir")  # below the Create folder button, not at the top
    at.multiselect(key="files_select").set_value(["shots"]).run()
    at.button(key="files_delete").click().run()
    at.button(key="files_delete_yes").click().run()
    order = _main_order(at)
    assert "success:Created folder shots" not in order  # shown once
    trashed = [i for i, e in enumerate(order) if e.startswith("success:Moved 1 item")]
    assert trashed and trashed[0] < order.index("button:files_mkdir")  # with the selection's actions
    restore = [b for b in at.button if (b.key or "").startswith("restore:")]
    restore[0].click().run()
    order = _main_order(at)
    restored = order.index("success:Restored shots")
    assert restored > order.index("button:files_mkdir")  # in the trash section at the bottom
