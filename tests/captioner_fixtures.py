"""Build a tiny randomly initialised BLIP captioner (no downloads: config, weights and a
WordPiece tokenizer are all made here). Run with a Python that has torch + transformers:

    python tests/captioner_fixtures.py OUT_FOLDER
"""
from __future__ import annotations

import sys
from pathlib import Path

WORDS = ["a", "photo", "of", "cat", "dog", "on", "the", "sofa", "red", "blue", "woman", "man", "with", "hat",
         "in", "garden", "sitting", "standing", "picture", "an", "image"]


def build(out: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nyx_core.tagging.caption_job import guard_torchvision

    guard_torchvision()
    import torch
    from transformers import (BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    out.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"] + WORDS
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=True)
    tok.add_special_tokens({"bos_token": "[DEC]"})
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    torch.manual_seed(0)
    cfg = BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 16, "projection_dim": 16},
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "encoder_hidden_size": 32, "max_position_embeddings": 64,
                     "bos_token_id": vocab.index("[DEC]"), "pad_token_id": 0, "sep_token_id": vocab.index("[SEP]"),
                     "eos_token_id": vocab.index("[SEP]")},
        projection_dim=16,
    )
    model = BlipForConditionalGeneration(cfg)
    model.save_pretrained(str(out), safe_serialization=True)
    proc.save_pretrained(str(out))
    (out / "vocab.txt").unlink(missing_ok=True) if not (out / "tokenizer.json").exists() else None
    return out


if __name__ == "__main__":
    build(Path(sys.argv[1]))
    print("ok")
