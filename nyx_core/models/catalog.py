"""The built-in catalogue: the usual base models per family, with the files each needs.

Sizes are what the Hub listed when the catalogue was written (shown as approximate; a download
verifies against the size and SHA-256 the Hub publishes at download time, not these numbers).
``gated`` repos need a Hugging Face token whose account has accepted the model's licence.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogFile:
    repo: str
    file: str
    kind: str          # detect.KIND_DIRS key: where it goes and which picker offers it
    size: int          # bytes, approximate
    slot: str          # the config field it fills (base_model, vae, clip_l, clip_g, t5xxl, ae)
    gated: bool = False
    license: str = ""


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    family: str        # config family
    title: str
    files: tuple[CatalogFile, ...]
    note: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def gated(self) -> bool:
        return any(f.gated for f in self.files)

    @property
    def licenses(self) -> list[str]:
        return sorted({f.license for f in self.files if f.license})


GB = 1_000_000_000
MB = 1_000_000
_FLUX_TE = "comfyanonymous/flux_text_encoders"
_CLIP_L = CatalogFile(_FLUX_TE, "clip_l.safetensors", "clip_l", 246 * MB, "clip_l", license="mit")
_T5 = CatalogFile(_FLUX_TE, "t5xxl_fp16.safetensors", "t5", int(9.79 * GB), "t5xxl", license="apache-2.0")
_SD35_LIC = "stabilityai-ai-community"


def _sd35(repo: str, file: str, size: int, title: str, eid: str) -> CatalogEntry:
    return CatalogEntry(eid, "sd3", title, (
        CatalogFile(repo, file, "checkpoint", size, "base_model", True, _SD35_LIC),
        CatalogFile(repo, "text_encoders/clip_l.safetensors", "clip_l", 246 * MB, "clip_l", True, _SD35_LIC),
        CatalogFile(repo, "text_encoders/clip_g.safetensors", "clip_g", int(1.39 * GB), "clip_g", True, _SD35_LIC),
        CatalogFile(repo, "text_encoders/t5xxl_fp16.safetensors", "t5", int(9.79 * GB), "t5xxl", True, _SD35_LIC),
    ), note="gated: accept the licence on the model's Hub page, then set your HF token in Settings")


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry("sd15", "sd15", "Stable Diffusion 1.5", (
        CatalogFile("stable-diffusion-v1-5/stable-diffusion-v1-5", "v1-5-pruned-emaonly.safetensors",
                    "checkpoint", int(4.27 * GB), "base_model", license="creativeml-openrail-m"),
    )),
    CatalogEntry("sdxl", "sdxl", "SDXL base 1.0", (
        CatalogFile("stabilityai/stable-diffusion-xl-base-1.0", "sd_xl_base_1.0.safetensors", "checkpoint",
                    int(6.94 * GB), "base_model", license="openrail++"),
        CatalogFile("madebyollin/sdxl-vae-fp16-fix", "sdxl_vae.safetensors", "vae", 335 * MB, "vae", license="mit"),
    ), note="with the fp16-fix VAE (the original VAE overflows in fp16)"),
    CatalogEntry("flux-dev", "flux", "Flux.1 dev", (
        CatalogFile("black-forest-labs/FLUX.1-dev", "flux1-dev.safetensors", "checkpoint", int(23.8 * GB),
                    "base_model", True, "flux-1-dev-non-commercial-license"),
        CatalogFile("black-forest-labs/FLUX.1-dev", "ae.safetensors", "ae", 335 * MB, "ae", True,
                    "flux-1-dev-non-commercial-license"),
        _CLIP_L, _T5,
    ), note="gated: accept the licence on the model's Hub page, then set your HF token in Settings"),
    CatalogEntry("flux-schnell", "flux", "Flux.1 schnell", (
        CatalogFile("black-forest-labs/FLUX.1-schnell", "flux1-schnell.safetensors", "checkpoint", int(23.8 * GB),
                    "base_model", license="apache-2.0"),
        CatalogFile("black-forest-labs/FLUX.1-schnell", "ae.safetensors", "ae", 335 * MB, "ae", license="apache-2.0"),
        _CLIP_L, _T5,
    )),
    _sd35("stabilityai/stable-diffusion-3.5-medium", "sd3.5_medium.safetensors", int(5.11 * GB),
          "SD 3.5 medium", "sd35-medium"),
    _sd35("stabilityai/stable-diffusion-3.5-large", "sd3.5_large.safetensors", int(16.5 * GB),
          "SD 3.5 large", "sd35-large"),
)


def get(entry_id: str) -> CatalogEntry:
    for e in CATALOG:
        if e.id == entry_id:
            return e
    from nyx_core.errors import NyxError

    raise NyxError(f"no catalogue entry {entry_id!r} (known: {', '.join(e.id for e in CATALOG)})")


def for_family(family: str) -> list[CatalogEntry]:
    return [e for e in CATALOG if e.family == family]
