"""The Training page's form: one tab per config group, widgets in, a plain data dict out.

Widget keys are ``tc.<form id>.<group>.<field>``. The form id names the file being edited and how
many times it was loaded (``new_form``), so every load draws brand-new widgets: a browser keeps
each widget's value under its id and sends it back with the next event, so widgets shared between
two configs would carry the first config's values into the second (issue 8). Fields that do not
apply to the chosen family are hidden but keep their values.
"""
from __future__ import annotations

import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import streamlit as st
import tomlkit

from nyx_core.config.enums import NETWORK_LABELS, DurationMode, WarmupMode
from nyx_core.config.families import FAMILIES
from nyx_core.config.labels import LABELS
from nyx_core.config.model import TrainingConfig
from nyx_core.kohya import catalog
from nyx_core.workspace import Workspace

PREFIX = "tc."
FORM_ID = "tc_form_id"
TABS = [("project", "Project"), ("model", "Model"), ("dataset", "Dataset"), ("network", "Network"),
        ("optimizer", "Optimizer"), ("performance", "Performance"), ("advanced", "Advanced"),
        ("saving", "Saving & samples"), ("logging", "Logging")]
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
MODEL_PATH_FIELDS = ("base_model", "vae", "clip_l", "clip_g", "t5xxl", "ae", "network_weights")

LR_FIELDS = {"optimizer.learning_rate", "optimizer.unet_lr", "optimizer.text_encoder_lr"}
#: Fields drawn by a special widget (or elsewhere), not the generic one.
SPECIAL = {"dataset.name", "dataset.concepts", "dataset.duration", "dataset.max_train_epochs",
           "dataset.max_train_steps", "samples.prompts", "advanced.extra", "network.extra_args",
           "optimizer.extra_args", "optimizer.betas", "optimizer.warmup_mode", "optimizer.warmup_steps",
           "optimizer.warmup_ratio", "model.family"}


def key_for(form_id: str, path: str) -> str:
    return f"{PREFIX}{form_id}.{path}"


def key(path: str) -> str:
    return key_for(st.session_state.get(FORM_ID, ""), path)


def new_form(file: str) -> str:
    """Start a fresh set of widgets for ``file`` (a switch, a preset, a save, a discard)."""
    import hashlib

    gen = st.session_state.get("tc_form_gen", 0) + 1
    st.session_state["tc_form_gen"] = gen
    form_id = f"{hashlib.sha1(file.encode()).hexdigest()[:8]}-{gen}"
    st.session_state[FORM_ID] = form_id
    return form_id


def label(path: str) -> str:
    return LABELS.get(path, path.split(".", 1)[1].replace("_", " ").capitalize())


def model_files(ws: Workspace) -> list[str]:
    """Checkpoints under workspace/models (files and diffusers folders), as workspace paths."""
    out = []
    for p in sorted(ws.models.rglob("*")):
        if p.name.startswith("."):
            continue
        if (p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES) or (p.is_dir() and (p / "model_index.json").is_file()):
            out.append(p.relative_to(ws.models).as_posix())
    return out


def _unwrap_optional(ann: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return (args[0] if len(args) == 1 else ann), True
    return ann, False


class FormErrors(list):
    """(field, message) pairs for values the widgets could not turn into config values."""


def _optional_number(path: str, value: Any, kind: type, errors: FormErrors) -> Any:
    text = st.text_input(label(path), value="" if value is None else f"{value:g}" if kind is float else str(value),
                         key=key(path))
    text = text.strip()
    if not text:
        return None
    try:
        return kind(float(text)) if kind is int else float(text)
    except ValueError:
        errors.append((path, f"{text!r} is not a number"))
        return value


def field_widget(path: str, value: Any, ann: Any, errors: FormErrors, *, ws: Workspace, family=None) -> Any:
    group, name = path.split(".", 1)
    ann, optional = _unwrap_optional(ann)
    if group == "model" and name in MODEL_PATH_FIELDS:
        if family is not None:
            from nyx_ui.models_view import model_picker  # offers only what fits the family, says why

            return model_picker(ws, name, family, value or "", label(path), key(path))
        options = [""] + model_files(ws)
        if value and value not in options:
            options.append(value)
        return st.selectbox(label(path), options, index=options.index(value or ""), key=key(path),
                            accept_new_options=True,
                            help="a file in workspace/models, a workspace path, or (base model) a Hub id")
    if isinstance(ann, type) and issubclass(ann, Enum):
        options = list(ann)
        fmt = {"network.type": lambda v: NETWORK_LABELS.get(v, v.value)}.get(path, lambda v: v.value)
        return st.selectbox(label(path), options, index=options.index(value), format_func=fmt, key=key(path))
    if ann is bool:
        return st.checkbox(label(path), value=bool(value), key=key(path))
    if optional and ann in (int, float):
        return _optional_number(path, value, ann, errors)
    if ann is int:
        return int(st.number_input(label(path), value=int(value), step=1, key=key(path)))
    if ann is float:
        if path in LR_FIELDS:
            return float(st.number_input(label(path), value=float(value), step=1e-5, format="%.2e", key=key(path)))
        return float(st.number_input(label(path), value=float(value), step=0.01, format="%.4f", key=key(path)))
    if ann is str:
        return st.text_input(label(path), value=value or "", key=key(path))
    return value  # anything else is drawn by a special widget


def generic_fields(group: str, data: dict[str, Any], family, errors: FormErrors, *, ws: Workspace,
                   skip: set[str] = frozenset(), columns: int = 2) -> dict[str, Any]:
    model_cls = TrainingConfig.model_fields[group].annotation
    out = dict(data)
    names = [n for n in model_cls.model_fields
             if f"{group}.{n}" not in SPECIAL and n not in skip and catalog.applies(f"{group}.{n}", family)]
    cols = st.columns(columns)
    for i, name in enumerate(names):
        with cols[i % columns]:
            out[name] = field_widget(f"{group}.{name}", data.get(name), model_cls.model_fields[name].annotation,
                                     errors, ws=ws, family=family)
    return out


def _lines(path: str, values: list[str], help_text: str) -> list[str]:
    text = st.text_area(label(path), value="\n".join(values), key=key(path), help=help_text, height=80)
    return [line.strip() for line in text.splitlines() if line.strip()]


# Tabs with special parts ----------------------------------------------------------------------
def dataset_tab(data: dict[str, Any], family, errors: FormErrors, *, ws: Workspace) -> dict[str, Any]:
    from nyx_core.datasets.layout import list_datasets, scan_dataset

    out = dict(data)
    names = [d.name for d in list_datasets(ws)]
    current = data.get("name", "")
    options = [""] + names + ([current] if current and current not in names else [])
    out["name"] = st.selectbox("Dataset", options, index=options.index(current), key=key("dataset.name"),
                               format_func=lambda n: n or "— pick a dataset —",
                               help="a folder in workspace/datasets (made on the Datasets page)")
    if out["name"] and out["name"] in names:
        layout = scan_dataset(ws, out["name"])
        overrides = {c["folder"]: c for c in data.get("concepts", [])}
        rows = []
        for c in layout.concepts:
            o = overrides.get(c.folder.name, {})
            rows.append({"folder": c.folder.name, "images": len(c.images),
                         "repeats": o.get("repeats") or c.repeats,
                         "class tokens": o.get("class_tokens") if o.get("class_tokens") is not None else c.name,
                         "train": o.get("enabled", True), "regularisation": o.get("is_reg", False)})
        if rows:
            st.caption("Concepts (from the dataset's `<repeats>_<name>` folders; edits here override them)")
            edited = st.data_editor(rows, key=key("dataset.concepts"), hide_index=True, num_rows="fixed",
                                    disabled=["folder", "images"], width="stretch")
            concepts = []
            for row, c in zip(edited, layout.concepts):
                o: dict[str, Any] = {"folder": c.folder.name}
                reps = row.get("repeats")
                if reps not in (None, "") and int(reps) != c.repeats:
                    o["repeats"] = max(1, int(reps))
                tokens = row.get("class tokens")
                if tokens is not None and tokens != c.name:
                    o["class_tokens"] = str(tokens)
                if not row.get("train", True):
                    o["enabled"] = False
                if row.get("regularisation"):
                    o["is_reg"] = True
                if len(o) > 1:
                    concepts.append(o)
            out["concepts"] = concepts
        else:
            st.info("This dataset has no `<repeats>_<concept>` folders yet.")
    elif out["name"]:
        st.warning(f"Dataset {out['name']!r} does not exist in workspace/datasets.")

    d1, d2 = st.columns(2)
    with d1:
        modes = list(DurationMode)
        out["duration"] = st.radio("Train for", modes, index=modes.index(DurationMode(data["duration"])),
                                   format_func=lambda m: m.value, horizontal=True, key=key("dataset.duration"))
    with d2:
        if out["duration"] is DurationMode.epochs:
            out["max_train_epochs"] = int(st.number_input("Epochs", value=int(data["max_train_epochs"]), step=1,
                                                          min_value=0, key=key("dataset.max_train_epochs")))
        else:
            out["max_train_steps"] = int(st.number_input("Steps", value=int(data["max_train_steps"]), step=10,
                                                         min_value=0, key=key("dataset.max_train_steps")))
    out.update(generic_fields("dataset", out, family, errors, ws=ws))
    return out


def network_tab(data, family, errors, *, ws) -> dict[str, Any]:
    from nyx_core.config.enums import Family, NetworkType

    # Hide what the chosen network type ignores (its value is kept): the widget's value from this
    # run if the user just changed it, else the stored one.
    ntype = NetworkType(st.session_state.get(key("network.type"), data["type"]))
    skip = set()
    if ntype is not NetworkType.lokr:
        skip.add("factor")
    if ntype in (NetworkType.ia3, NetworkType.full) or (
            ntype is NetworkType.lora and Family(family) in (Family.flux, Family.sd3)):
        skip |= {"conv_dim", "conv_alpha"}
    out = generic_fields("network", data, family, errors, ws=ws, skip=skip)
    out["extra_args"] = _lines("network.extra_args", data.get("extra_args", []),
                               "extra network_args, one key=value per line (Nyx writes the ones above itself)")
    return out


def optimizer_tab(data, family, errors, *, ws) -> dict[str, Any]:
    out = generic_fields("optimizer", data, family, errors, ws=ws)
    c1, c2 = st.columns(2)
    with c1:
        modes = list(WarmupMode)
        out["warmup_mode"] = st.radio("Warmup as", modes, index=modes.index(WarmupMode(data["warmup_mode"])),
                                      format_func=lambda m: m.value, horizontal=True, key=key("optimizer.warmup_mode"))
    with c2:
        if out["warmup_mode"] is WarmupMode.steps:
            out["warmup_steps"] = int(st.number_input("Warmup steps", value=int(data["warmup_steps"]), min_value=0,
                                                      step=10, key=key("optimizer.warmup_steps")))
        else:
            out["warmup_ratio"] = float(st.number_input("Warmup ratio", value=float(data["warmup_ratio"]),
                                                        min_value=0.0, max_value=0.99, step=0.01,
                                                        key=key("optimizer.warmup_ratio")))
    betas = data.get("betas")
    text = st.text_input("Betas (e.g. 0.9, 0.999; empty = default)",
                         value="" if not betas else f"{betas[0]:g}, {betas[1]:g}", key=key("optimizer.betas"))
    if text.strip():
        try:
            b1, b2 = (float(x) for x in text.split(","))
            out["betas"] = (b1, b2)
        except ValueError:
            errors.append(("optimizer.betas", "write two numbers separated by a comma"))
    else:
        out["betas"] = None
    out["extra_args"] = _lines("optimizer.extra_args", data.get("extra_args", []),
                               "extra optimizer_args, one key=value per line (e.g. decouple=True)")
    return out


def advanced_tab(data, family, errors, *, ws) -> dict[str, Any]:
    out = generic_fields("advanced", data, family, errors, ws=ws)
    current = tomlkit.dumps(data.get("extra") or {}).strip()
    text = st.text_area("Other sd-scripts options (TOML, by their sd-scripts name)", value=current,
                        key=key("advanced.extra"), height=80,
                        help="e.g. scale_weight_norms = 1.0 — checked against the script's real options")
    try:
        out["extra"] = tomlkit.parse(text).unwrap() if text.strip() else {}
    except Exception as exc:  # tomlkit's errors are varied; any parse failure is the user's text
        errors.append(("advanced.extra", f"not valid TOML: {exc}"))
        out["extra"] = data.get("extra") or {}
    return out


PROMPT_COLUMNS = ["prompt", "negative", "width", "height", "seed", "cfg", "steps"]


def samples_part(data, family, errors, *, ws) -> dict[str, Any]:
    st.subheader("Samples")
    out = generic_fields("samples", data, family, errors, ws=ws, columns=2)
    rows = [{c: p.get(c) for c in PROMPT_COLUMNS} for p in data.get("prompts", [])]
    if not rows:
        rows = [{c: None for c in PROMPT_COLUMNS}]
    st.caption("Prompts (written as sd-scripts' prompt file: `--n --w --h --d --l --s`)")
    edited = st.data_editor(
        rows, key=key("samples.prompts"), num_rows="dynamic", hide_index=True, width="stretch",
        column_config={
            "prompt": st.column_config.TextColumn("Prompt", width="large"),
            "negative": st.column_config.TextColumn("Negative"),
            "width": st.column_config.NumberColumn("Width", min_value=64, max_value=4096, step=8),
            "height": st.column_config.NumberColumn("Height", min_value=64, max_value=4096, step=8),
            "seed": st.column_config.NumberColumn("Seed", min_value=0, step=1),
            "cfg": st.column_config.NumberColumn("CFG", min_value=0.0, step=0.5),
            "steps": st.column_config.NumberColumn("Steps", min_value=1, max_value=1000, step=1),
        })
    prompts = []
    for row in edited:
        text = (row.get("prompt") or "").strip()
        if not text:
            continue
        p: dict[str, Any] = {"prompt": text, "negative": (row.get("negative") or "").strip()}
        for col, conv in (("width", int), ("height", int), ("seed", int), ("cfg", float), ("steps", int)):
            v = row.get(col)
            if v is not None and v == v:  # NaN from an emptied cell
                p[col] = conv(v)
        prompts.append(p)
    out["prompts"] = prompts
    return out


def config_form(base: dict[str, Any], *, ws: Workspace) -> tuple[dict[str, Any], FormErrors]:
    """Draw every tab for ``base`` (plain config data); return the edited data and widget errors."""
    errors = FormErrors()
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    fams = list(FAMILIES)
    current_family = base["model"]["family"]
    top1, top2 = st.columns([1, 2])
    with top1:
        family = st.selectbox("Model family", fams, index=[f.value for f in fams].index(str(current_family)),
                              format_func=lambda f: FAMILIES[f].label, key=key("model.family"))
    with top2:
        st.caption("Options that don't apply to the chosen family are hidden (their values are kept).")
    data["model"]["family"] = family
    tabs = st.tabs([title for _, title in TABS])
    for (group, _title), tab in zip(TABS, tabs):
        with tab:
            if group == "dataset":
                data["dataset"] = dataset_tab(base["dataset"], family, errors, ws=ws)
            elif group == "network":
                data["network"] = network_tab(base["network"], family, errors, ws=ws)
            elif group == "optimizer":
                data["optimizer"] = optimizer_tab(base["optimizer"], family, errors, ws=ws)
            elif group == "advanced":
                data["advanced"] = advanced_tab(base["advanced"], family, errors, ws=ws)
            elif group == "saving":
                data["saving"] = generic_fields("saving", base["saving"], family, errors, ws=ws)
                data["samples"] = samples_part(base["samples"], family, errors, ws=ws)
            else:
                merged = generic_fields(group, base[group], family, errors, ws=ws)
                merged.update({k: v for k, v in data[group].items() if k == "family"})
                data[group] = merged
    return data, errors


def relative_or_abs(ws: Workspace, path: Path) -> str:
    try:
        return ws.relative(path)
    except ValueError:
        return str(path)
