"""The Training page's panels around the form: config picker, new/import, presets, the live step
count, the pre-flight check, and Save / Export / Start."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import streamlit as st

from nyx_core.config import ConfigError, TrainingConfig, load_config, new_config, save_config, steps_for, validate
from nyx_core.config.enums import Family
from nyx_core.config.families import FAMILIES
from nyx_core.config.io import config_path, list_configs
from nyx_core.config.model import config_from_data
from nyx_core.config.presets import apply_preset, list_presets, save_user_preset
from nyx_core.config.validate import Problem
from nyx_core.errors import NyxError, PathError
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace
from nyx_ui import config_form as form

ST = st.session_state
PICK = "tc_pick"
PICK_NEXT = "tc_pick_next"  # set by callbacks after the picker exists; applied on the next run
CURRENT = "tc_current"  # the config last open: coming back to the page reopens it (widget state does not last)
DRAFTS = "tc_drafts"  # {file: form data with unsaved edits}: kept across switches and page visits
LOADED = "tc_loaded"  # (file, its on-disk signature) the form's widgets were started from
BASE = "tc_base"  # the data the current set of widgets started from


def flash(kind: str, text: str) -> None:
    ST.setdefault("tc_flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in ST.pop("tc_flash", []):
        getattr(st, kind)(text)


# Picking / creating / importing ---------------------------------------------------------------
def pick_config(ws: Workspace) -> Path | None:
    """The config being edited; honours the Files page's "Open in Training"."""
    if PICK_NEXT in ST:
        ST[PICK] = ST.pop(PICK_NEXT)
    requested = ST.pop("training_config_path", None)
    if requested:
        try:
            path = ws.resolve(str(requested), must_exist=True)
            if path.parent == ws.configs and path.suffix == ".toml":
                ST[PICK] = path.stem
            else:
                ST["tc_external"] = ws.relative(path)
                ST[PICK] = ws.relative(path)
        except PathError as exc:
            flash("error", f"Cannot open {requested}: {exc}")
    names = [p.stem for p in list_configs(ws)]
    external = ST.get("tc_external")
    if external and external not in names:
        names.append(external)
    if PICK not in ST and ST.get(CURRENT) in names:
        ST[PICK] = ST[CURRENT]  # back on the page: the config you were on, not the first one
    if ST.get(PICK) not in names:
        ST.pop(PICK, None)
    drafts = ST.get(DRAFTS, {})
    c1, c2, c3 = st.columns([3, 1, 1])
    with c1:
        # index=None when the choice was set through session state (a new/imported config, "Open in
        # Training"): a default as well would make Streamlit warn about two sources of truth.
        choice = st.selectbox("Config", names, key=PICK, index=0 if names and PICK not in ST else None,
                              placeholder="No configs yet: create one →")
        others = [n for n in names if n != choice and str(config_path(ws, n)) in drafts]
        if others:
            st.caption("Unsaved changes kept for: " + ", ".join(others))
    with c2:
        with st.popover("New config", icon=":material/add:", width="stretch"):
            new_config_form(ws)
    with c3:
        with st.popover("Import", icon=":material/upload_file:", width="stretch"):
            import_form(ws)
    if not choice:
        return None
    ST[CURRENT] = choice
    return config_path(ws, choice)


def new_config_form(ws: Workspace) -> None:
    from nyx_core.config.presets import preset_for
    from nyx_core.datasets.layout import list_datasets

    with st.form("tc_new", clear_on_submit=False, border=False):
        name = st.text_input("Name", key="tc_new_name", placeholder="e.g. ohwx-woman-sdxl")
        family = st.selectbox("Model family", list(Family), format_func=lambda f: FAMILIES[f].label, key="tc_new_family")
        kind = st.selectbox("Preset", ["none", "character", "style", "concept"], key="tc_new_preset")
        low = st.checkbox("Low VRAM variant", key="tc_new_low")
        datasets = [""] + [d.name for d in list_datasets(ws)]
        dataset = st.selectbox("Dataset", datasets, key="tc_new_dataset", format_func=lambda n: n or "— later —")
        if st.form_submit_button("Create", type="primary"):
            try:
                path = config_path(ws, name)
                if path.exists():
                    raise ConfigError(f"{ws.relative(path)} already exists; pick another name")
                cfg = new_config(Path(name.strip()).stem, family, dataset={"name": dataset})
                if kind != "none":
                    cfg = apply_preset(cfg, preset_for(family, kind, low_vram=low))
                save_config(cfg, path)
            except (NyxError, ValueError) as exc:
                st.error(str(exc))
            else:
                ST[PICK_NEXT] = path.stem
                flash("success", f"Created {ws.relative(path)}")
                st.rerun()


def import_form(ws: Workspace) -> None:
    from nyx_core.config.importers import import_kohya_gui, import_sd_scripts

    st.caption("An sd-scripts config .toml (with its dataset .toml), or a kohya_ss GUI .json")
    up = st.file_uploader("Config file", type=["toml", "json"], key="tc_imp_file")
    ds = st.file_uploader("Dataset .toml (optional)", type=["toml"], key="tc_imp_ds")
    name = st.text_input("New config name", key="tc_imp_name")
    if st.button("Import", key="tc_imp_go", disabled=up is None or not name.strip()):
        try:
            path = config_path(ws, name)
            if path.exists():
                raise ConfigError(f"{ws.relative(path)} already exists; pick another name")
            text = up.getvalue().decode("utf-8")
            if up.name.lower().endswith(".json"):
                result = import_kohya_gui(ws, text, name=path.stem)
            else:
                result = import_sd_scripts(ws, text, ds.getvalue().decode("utf-8") if ds else None, name=path.stem)
            save_config(result.config, path)
        except (NyxError, ValueError, UnicodeDecodeError) as exc:
            st.error(str(exc))
            return
        ST[PICK_NEXT] = path.stem
        ST["tc_import_notes"] = result.report()
        flash("success", f"Imported into {ws.relative(path)}; {len(result.unknown)} setting(s) not carried over "
              "(listed below)")
        st.rerun()


def import_notes() -> None:
    notes = ST.get("tc_import_notes")
    if notes:
        with st.expander(f"Import report: where each of {len(notes)} setting(s) went", expanded=True):
            st.code("\n".join(notes), language=None)
            if st.button("Dismiss report"):
                ST.pop("tc_import_notes", None)
                st.rerun()


# Loading the config being edited ---------------------------------------------------------------
def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st_ = path.stat()
    except OSError:
        return None
    return st_.st_mtime_ns, st_.st_size


def load_base(ws: Workspace, path: Path) -> tuple[TrainingConfig | None, dict[str, Any] | None]:
    """(the saved config, the data the form's widgets start from: the unsaved draft of this file if
    there is one, else the file itself). A switch, or the file changing on disk (a save, the CLI),
    starts a new set of widgets loaded whole from that data."""
    try:
        saved = load_config(path)
    except ConfigError as exc:
        st.error(f"{ws.relative(path)} cannot be loaded: {exc}")
        show_file_problems(ws, path)
        return None, None
    loaded = (str(path), _signature(path))
    draft = ST.get(DRAFTS, {}).get(str(path))
    if ST.get(LOADED) != loaded or BASE not in ST:
        if ST.get(LOADED, ("",))[0] == str(path) and draft is not None:
            st.warning(f"{ws.relative(path)} changed on disk while you had unsaved edits; your edits are kept "
                       "here. Save writes them over the file; Discard shows the file.")
        ST[LOADED] = loaded
        ST[BASE] = draft if draft is not None else saved.to_data()
        form.new_form(str(path))
    return saved, ST[BASE]


def show_file_problems(ws: Workspace, path: Path) -> None:
    """Everything wrong with a config file that does not load: its schema problems and the
    pre-flight problems of the rest, one line each, named by the page's labels."""
    from nyx_core.config.validate import check_text

    try:
        _cfg, problems = check_text(path.read_text(encoding="utf-8"), ws, None, source=path.name)
    except (OSError, UnicodeDecodeError):
        return
    if problems:
        st.markdown("\n".join(f"- **{p.level}** · {p.label} (`{p.field}`): {p.message}" for p in problems))


def remember_draft(path: Path, saved: TrainingConfig | None, data: dict[str, Any], cfg: TrainingConfig | None,
                   form_errors: list) -> bool:
    """Keep the form's data as this file's draft while it differs from the file; returns "unsaved"."""
    dirty = saved is not None and (cfg is None or bool(form_errors) or cfg != saved)
    drafts = ST.setdefault(DRAFTS, {})
    if dirty:
        drafts[str(path)] = data
    else:
        drafts.pop(str(path), None)
    return dirty


def _reload(path: Path) -> None:
    """Forget the draft and draw the file as it is on disk."""
    ST.get(DRAFTS, {}).pop(str(path), None)
    ST.pop(LOADED, None)


def preset_picker(ws: Workspace, path: Path, current: TrainingConfig | None) -> None:
    if current is None:
        return
    draft = ST.get(DRAFTS, {}).get(str(path))
    if draft is not None:  # presets and "save as preset" start from what the form shows, edits included
        try:
            current = config_from_data(draft)
        except ConfigError:
            pass
    presets = list_presets(ws, current.model.family)
    with st.expander("Presets", expanded=False):
        c1, c2 = st.columns([3, 1])
        with c1:
            chosen = st.selectbox("Preset for this family", presets, format_func=lambda p: f"{p.name} — {p.id}",
                                  key="tc_preset")
        with c2:
            st.write("")
            if st.button("Apply preset", key="tc_preset_apply", disabled=chosen is None):
                try:
                    data = apply_preset(current, chosen).to_data()
                except NyxError as exc:
                    st.error(str(exc))
                else:
                    ST.setdefault(DRAFTS, {})[str(path)] = data
                    ST[BASE] = data
                    form.new_form(str(path))
                    flash("info", f"Applied {chosen.name}: recipe settings changed (paths, dataset and prompts "
                          "kept). Save to keep it.")
                    st.rerun()
        st.caption("Presets set only recipe settings (network, optimizer, schedule, dataset options), never "
                   "paths, the dataset or prompts.")
        n1, n2 = st.columns([3, 1])
        with n1:
            pname = st.text_input("Save current settings as a user preset", key="tc_preset_name",
                                  placeholder="preset name")
        with n2:
            st.write("")
            if st.button("Save preset", key="tc_preset_save", disabled=not pname.strip()):
                try:
                    p = save_user_preset(ws, pname, current)
                    st.success(f"Saved preset {p.id}")
                except NyxError as exc:
                    st.error(str(exc))


def build_config(data: dict[str, Any], errors: list) -> TrainingConfig | None:
    try:
        return config_from_data(data)
    except ConfigError as exc:
        errors.append(("config", str(exc)))
        return None


# The live summary: steps and pre-flight ---------------------------------------------------------
def plan_for(ws: Workspace, cfg: TrainingConfig | None):  # -> RunPlan | None
    """The config's run plan, made once per rerun for the step count, pre-flight and the preview
    (the dataset folder is read once)."""
    from nyx_core.config.plan import plan

    if cfg is None:
        return None
    # a dataset read for the first time: its image sizes (one header each) can take a while; the
    # spinner shows only when it does (after half a second)
    with st.spinner(f"Reading the image sizes of dataset {cfg.dataset.name!r}…" if cfg.dataset.name
                    else "Reading the dataset's image sizes…"):
        return plan(cfg, ws)


def steps_panel(ws: Workspace, cfg: TrainingConfig | None, run_plan=None) -> None:  # noqa: ANN001 - RunPlan
    if cfg is None:
        return
    try:
        r = run_plan.require_steps() if run_plan is not None else steps_for(cfg, ws)
    except NyxError as exc:
        st.metric("Training steps", "—")
        st.caption(str(exc))
        return
    # a wrapping row, not columns: on a phone the four figures take two lines, not four
    c1 = c2 = c3 = c4 = st.container(horizontal=True, gap="medium")
    c1.metric("Training steps", f"{r.total_optimization_steps:,}")
    c2.metric("Epochs", r.num_epochs)
    c3.metric("Steps per epoch", r.num_update_steps_per_epoch)
    c4.metric("Images × repeats", r.num_train_images_x_repeats)
    buckets = [f"{b.resolution[0]}×{b.resolution[1]}: {b.count}" for d in r.datasets for b in d.buckets]
    if buckets:
        st.caption("Buckets (images incl. repeats): " + ", ".join(buckets[:12]) + (" …" if len(buckets) > 12 else ""))


def problems_for(ws: Workspace, settings: Settings, cfg: TrainingConfig | None, form_errors: list,
                 run_plan=None) -> list[Problem]:  # noqa: ANN001 - RunPlan
    problems = [Problem("error", f, m) for f, m in form_errors]
    if cfg is not None:
        problems += validate(run_plan if run_plan is not None else cfg, ws, settings)
    return sorted(problems, key=lambda p: p.level != "error")


def preflight_panel(problems: list[Problem]) -> None:
    errs = [p for p in problems if p.level == "error"]
    warns = [p for p in problems if p.level == "warning"]
    title = "Pre-flight: ready" if not problems else f"Pre-flight: {len(errs)} error(s), {len(warns)} warning(s)"
    with st.container(border=True, key="tc_preflight"):
        st.markdown(f"**{title}**")
        for p in errs:
            st.error(f"**{p.label}** — {p.message}", icon=":material/error:")
        for p in warns:
            st.warning(f"**{p.label}** — {p.message}", icon=":material/warning:")
        if not problems:
            st.success("No problems found.", icon=":material/check_circle:")


# Actions ------------------------------------------------------------------------------------------
def try_render(ws: Workspace, settings: Settings, cfg: TrainingConfig | None, run_plan=None):  # noqa: ANN001
    from nyx_core.kohya.render import render

    if cfg is None:
        return None
    folder = ws.configs / f"{cfg.project.name}.rendered"
    try:
        return render(cfg, ws=ws, settings=settings, render_dir=folder, logging_dir=folder / "tb", plan=run_plan)
    except NyxError:
        return None


def rendered_zip(run) -> bytes:  # noqa: ANN001 - RenderedRun
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.toml", run.config_toml)
        zf.writestr("dataset.toml", run.dataset_toml)
        if run.sample_prompts is not None:
            zf.writestr("sample_prompts.txt", run.sample_prompts)
        zf.writestr("argv.json", json.dumps(run.argv, indent=2) + "\n")
    return buf.getvalue()


def preview(run) -> None:  # noqa: ANN001 - RenderedRun
    if run is None:
        return
    with st.expander("What sd-scripts will get (preview)"):
        st.caption(f"{run.script} — `{' '.join(run.argv)}`")
        t1, t2, t3 = st.tabs(["config.toml", "dataset.toml", "sample_prompts.txt"])
        t1.code(run.config_toml, language="toml")
        t2.code(run.dataset_toml, language="toml")
        t3.code(run.sample_prompts or "(sampling is off)", language=None)


def actions(ws: Workspace, settings: Settings, path: Path, cfg: TrainingConfig | None, saved: TrainingConfig | None,
            problems: list[Problem], run=None, *, dirty: bool = False,  # noqa: ANN001 - run: RenderedRun | None
            form_errors: list = ()) -> None:
    has_errors = any(p.level == "error" for p in problems)
    # a value the form could not read (e.g. "fast" as a learning rate) is not in cfg: saving would
    # write the old value while the box shows the new text
    can_save = cfg is not None and not form_errors
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        if st.button("Save", icon=":material/save:", key="tc_save", type="secondary" if not dirty else "primary",
                     disabled=not can_save, width="stretch"):
            save_config(cfg, path)
            _reload(path)
            flash("success", f"Saved {form.relative_or_abs(ws, path)}")
            st.rerun()
        if not dirty:
            st.caption("Saved")
        elif not can_save:
            st.caption("Unsaved changes — fix the errors in the pre-flight check to save")
        else:
            st.caption("Unsaved changes")
        if dirty and st.button("Discard changes", key="tc_discard", type="tertiary",
                               help="forget the unsaved edits and show the file as saved"):
            _reload(path)
            flash("info", f"Discarded the unsaved changes to {form.relative_or_abs(ws, path)}")
            st.rerun()
    with c2:
        if st.button("Export rendered files", icon=":material/output:", key="tc_export", disabled=cfg is None or has_errors, width="stretch"):
            from nyx_core.kohya.render import export_rendered

            folder = ws.configs / f"{path.stem}.rendered"
            try:
                export_rendered(cfg, ws=ws, settings=settings, folder=folder)
                st.success(f"Wrote {ws.relative(folder)}/ (config.toml, dataset.toml, argv.json)")
            except NyxError as exc:
                st.error(str(exc))
    with c3:
        data = rendered_zip(run) if run is not None and not has_errors else None
        st.download_button("⬇ Download rendered", data=data or b"", file_name=f"{path.stem}-sd-scripts.zip",
                           mime="application/zip", disabled=data is None, key="tc_download", width="stretch")
    with c4:
        if st.button("▶ Start training", key="tc_start", type="primary", disabled=has_errors or cfg is None,
                     width="stretch", help="fix every error in the pre-flight check first" if has_errors else None):
            start_training(ws, settings, path, cfg)
    confirm_start_again(ws, settings, path, cfg)


def start_training(ws: Workspace, settings: Settings, path: Path, cfg: TrainingConfig, again: bool = False) -> None:
    from nyx_core.jobs import JobManager
    from nyx_core.jobs.manager import AlreadyActive

    try:
        save_config(cfg, path)
        _reload(path)
        job = JobManager(ws, settings).start_training(cfg, name=cfg.project.name, config_path=path, again=again)
    except AlreadyActive as exc:
        ST["tc_start_again"] = (str(path), str(exc).replace(" (CLI: --again)", ""))
        st.rerun()
    except NyxError as exc:
        st.error(str(exc))
        return
    ST["monitor_job_id"] = getattr(job, "id", None)
    st.switch_page("pages/monitor.py")


def confirm_start_again(ws: Workspace, settings: Settings, path: Path, cfg: TrainingConfig | None) -> None:
    """The config is already queued or running: ask before starting another run of it."""
    pending = ST.get("tc_start_again")
    if not pending or cfg is None or pending[0] != str(path):  # asked about another config
        return
    st.warning(pending[1])
    c1, c2 = st.columns(2)
    if c1.button("Start another run", key="tc_start_again_yes"):
        ST.pop("tc_start_again", None)
        start_training(ws, settings, path, cfg, again=True)
    if c2.button("Cancel", key="tc_start_again_no"):
        ST.pop("tc_start_again", None)
        st.rerun()
