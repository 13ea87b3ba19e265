"""What a weights file is (kind) and which model family it belongs to, from the tensor names and
shapes in its safetensors header (plus ``ss_*``/``modelspec.*`` metadata for LoRAs).

Pure functions over a ``Header``: no tensor is loaded. The rules are the architectures' own
fingerprints (key layouts of the original/ComfyUI single files, diffusers and transformers
folders, kohya LoRAs) and the widths that tell look-alikes apart: SD1 vs SD2 by the cross-attention
width (768 vs 1024), a 4-channel SD VAE vs the 16-channel Flux/SD3 autoencoder, CLIP-L (768) vs
CLIP-G (1280), T5-XXL by its 4096 width.
"""
from __future__ import annotations

from dataclasses import dataclass

from nyx_core.models.safetensors_header import Header

#: Kinds of model files, and the workspace/models sub-folder a download of that kind goes to.
KIND_DIRS: dict[str, str] = {
    "checkpoint": "checkpoints", "vae": "vae", "clip_l": "text_encoders", "clip_g": "text_encoders",
    "t5": "text_encoders", "ae": "vae", "lora": "loras", "tagger": "taggers", "captioner": "captioners",
    "other": "other",
}
KIND_LABELS = {"checkpoint": "checkpoint", "vae": "VAE", "clip_l": "CLIP-L text encoder",
               "clip_g": "CLIP-G text encoder", "t5": "T5-XXL text encoder", "ae": "Flux autoencoder (ae)",
               "lora": "LoRA", "tagger": "tagger", "captioner": "captioner", "other": "other", "unknown": "unknown"}
#: architecture -> config family (SD2 trains with the sd15 family and the v2 flag)
ARCH_FAMILY = {"sd1": "sd15", "sd2": "sd15", "sdxl": "sdxl", "flux": "flux", "sd3": "sd3"}
ARCH_LABELS = {"sd1": "SD1.5", "sd2": "SD2", "sdxl": "SDXL", "flux": "Flux", "sd3": "SD3"}


@dataclass(frozen=True)
class Detection:
    kind: str                      # a KIND_DIRS key, or "unknown"
    arch: str | None = None        # sd1 / sd2 / sdxl / flux / sd3 (None: not tied to one, or unknown)
    families: tuple[str, ...] = ()  # config families it can be used with (empty: unknown)
    variant: str | None = None     # e.g. "dev", "schnell", "large", "medium", "v-pred"
    reason: str = ""               # the fingerprint that decided, for the page's "why"

    @property
    def family(self) -> str | None:
        return ARCH_FAMILY.get(self.arch or "") or (self.families[0] if len(self.families) == 1 else None)

    @property
    def label(self) -> str:
        arch = ARCH_LABELS.get(self.arch or "", "")
        if self.variant:
            arch = f"{arch} {self.variant}".strip()
        return f"{arch} {KIND_LABELS.get(self.kind, self.kind)}".strip()


def _strip(keys: list[str], prefixes: tuple[str, ...]) -> set[str]:
    out = set()
    for k in keys:
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p):]
                break
        out.add(k)
    return out


def detect(h: Header) -> Detection:
    keys = list(h.tensors)
    if not keys:
        return Detection("unknown", reason="no tensors")
    lora = _detect_lora(h, keys)
    if lora:
        return lora
    for fn in (_detect_checkpoint, _detect_text_encoder, _detect_vae):
        d = fn(h, keys)
        if d:
            return d
    return Detection("unknown", reason="no known architecture's tensor names")


# LoRAs ----------------------------------------------------------------------------------------
_SS_BASE = {"sd_v1": "sd1", "sd_v2": "sd2", "sd_v2_v": "sd2", "sdxl_base_v1-0": "sdxl", "sdxl": "sdxl",
            "flux1": "flux", "flux": "flux", "sd3": "sd3", "sd3.5": "sd3"}


def _detect_lora(h: Header, keys: list[str]) -> Detection | None:
    if not any(k.endswith((".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight",
                           ".hada_w1_a", ".lokr_w1", ".oft_diag")) for k in keys):
        return None
    base = h.metadata.get("ss_base_model_version", "")
    arch = _SS_BASE.get(base)
    why = f"ss_base_model_version = {base}" if arch else ""
    if not arch:
        spec = h.metadata.get("modelspec.architecture", "")
        for prefix, a in (("stable-diffusion-v1", "sd1"), ("stable-diffusion-v2", "sd2"),
                          ("stable-diffusion-xl", "sdxl"), ("flux", "flux"), ("stable-diffusion-3", "sd3")):
            if spec.startswith(prefix):
                arch, why = a, f"modelspec.architecture = {spec}"
                break
    if not arch:
        arch, why = _lora_arch_from_keys(h, keys)
    return Detection("lora", arch, (ARCH_FAMILY[arch],) if arch else (), reason=why or "LoRA tensor names")


def _lora_arch_from_keys(h: Header, keys: list[str]) -> tuple[str | None, str]:
    if any("double_blocks" in k or "single_blocks" in k or "single_transformer_blocks" in k for k in keys):
        return "flux", "Flux block names (double_blocks/single_blocks)"
    if any("joint_blocks" in k or "context_block" in k for k in keys):
        return "sd3", "SD3 joint_blocks names"
    if any(k.startswith(("lora_te1_", "lora_te2_")) for k in keys):
        return "sdxl", "two text encoders (lora_te1_/lora_te2_)"
    for k in keys:
        # the text encoder's width: 768 (SD1 CLIP-L) or 1024 (SD2 OpenCLIP-H)
        if k.startswith("lora_te_") and k.endswith("self_attn_k_proj.lora_down.weight"):
            shape = h.shape(k) or []
            if len(shape) == 2:
                return ("sd2", "1024-wide text encoder") if shape[1] == 1024 else ("sd1", "768-wide text encoder")
    for k in keys:
        if k.startswith("lora_unet_") and "attn2_to_k.lora_down.weight" in k:
            shape = h.shape(k) or []
            if len(shape) == 2:
                if shape[1] == 2048:
                    return "sdxl", "2048-wide cross-attention"
                return ("sd2", "1024-wide cross-attention") if shape[1] == 1024 else ("sd1", "768-wide cross-attention")
    return None, ""


# Whole models ---------------------------------------------------------------------------------
_UNET_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "model.", "unet.")


def _detect_checkpoint(h: Header, keys: list[str]) -> Detection | None:
    stripped = _strip(keys, _UNET_PREFIXES)
    # Flux: original (BFL / ComfyUI) and diffusers layouts
    if "double_blocks.0.img_attn.qkv.weight" in stripped or (
            any(k.startswith("single_transformer_blocks.") for k in stripped)
            and any(k.startswith("transformer_blocks.") for k in stripped)):
        guidance = any(k.startswith(("guidance_in.", "time_text_embed.guidance_embedder.")) for k in stripped)
        return Detection("checkpoint", "flux", ("flux",), "dev" if guidance else "schnell",
                         "Flux double/single blocks" + (", guidance input (dev)" if guidance else ", no guidance input (schnell)"))
    # SD3 / SD3.5 MMDiT
    joint = {k.split(".")[1] for k in stripped if k.startswith("joint_blocks.")}
    if joint or ("pos_embed.proj.weight" in stripped and any(".attn.add_q_proj." in k for k in stripped)):
        depth = len(joint) or len({k.split(".")[1] for k in stripped if k.startswith("transformer_blocks.")})
        variant = {24: "medium", 38: "large"}.get(depth)
        return Detection("checkpoint", "sd3", ("sd3",), variant, f"MMDiT joint blocks ({depth} deep)")
    # UNets: SDXL has a label embedding (pooled text + size conditioning) and 2048-wide cross-attention
    if "label_emb.0.0.weight" in stripped or "add_embedding.linear_1.weight" in stripped:
        return Detection("checkpoint", "sdxl", ("sdxl",), reason="UNet with size/pooled conditioning (label_emb)")
    for k in keys:
        if k.endswith("attn2.to_k.weight") and ("input_blocks." in k or "down_blocks." in k):
            width = (h.shape(k) or [0, 0])[-1]
            if width == 2048:
                return Detection("checkpoint", "sdxl", ("sdxl",), reason="2048-wide cross-attention")
            if width == 1024:
                return Detection("checkpoint", "sd2", ("sd15",), reason="1024-wide cross-attention (SD2)")
            if width == 768:
                return Detection("checkpoint", "sd1", ("sd15",), reason="768-wide cross-attention (SD1.x)")
    return None


def _detect_text_encoder(h: Header, keys: list[str]) -> Detection | None:
    stripped = _strip(keys, ("text_encoders.clip_l.transformer.", "text_encoders.clip_g.transformer.",
                             "text_encoders.t5xxl.transformer.", "transformer.", "model."))
    t5 = "encoder.block.0.layer.0.SelfAttention.k.weight"
    if t5 in stripped:
        width = next(((h.shape(k) or [0])[0] for k in keys if k.endswith(t5)), 0)
        if width == 4096:
            return Detection("t5", None, ("flux", "sd3"), reason="T5 encoder, 4096 wide (XXL)")
        return Detection("other", None, (), reason=f"T5 encoder, {width} wide (not XXL)")
    kproj = "text_model.encoder.layers.0.self_attn.k_proj.weight"
    if kproj in stripped:
        width = next(((h.shape(k) or [0])[0] for k in keys if k.endswith(kproj)), 0)
        if width == 768:
            return Detection("clip_l", None, ("flux", "sd3"), reason="CLIP text model, 768 wide (CLIP-L)")
        if width == 1280:
            return Detection("clip_g", None, ("sd3",), reason="CLIP text model, 1280 wide (CLIP-G)")
        return Detection("other", None, (), reason=f"CLIP text model, {width} wide")
    return None


def _detect_vae(h: Header, keys: list[str]) -> Detection | None:
    stripped = _strip(keys, ("first_stage_model.", "vae."))
    if "encoder.conv_in.weight" not in stripped or "decoder.conv_in.weight" not in stripped:
        return None
    key = next(k for k in keys if k.endswith("decoder.conv_in.weight"))
    latent = (h.shape(key) or [0, 0])[1]
    if latent == 4:
        return Detection("vae", None, ("sd15", "sdxl"), reason="4-channel autoencoder (SD1.5/SDXL VAE)")
    if latent == 16:
        # Flux's ae.safetensors and SD3's VAE share one architecture (16 latent channels)
        return Detection("ae", None, ("flux", "sd3"), reason="16-channel autoencoder (Flux ae / SD3 VAE)")
    return Detection("other", None, (), reason=f"{latent}-channel autoencoder")


#: Training-page picker slot -> the kinds it offers.
SLOT_KINDS: dict[str, tuple[str, ...]] = {
    "base_model": ("checkpoint",), "vae": ("vae",), "clip_l": ("clip_l",), "clip_g": ("clip_g",),
    "t5xxl": ("t5",), "ae": ("ae",), "network_weights": ("lora",),
}
