"""NLU compatibility at the edges: NLU's column names and conventions for a predict() frame.

The core never learns NLU's vocabulary: ``Pipeline.predict(..., columns="nlu")`` builds easynlu's
frame and this module renames it, following NLU 5.4's own code (``nlu/pipe/col_substitution``):

- the vectors are ``word_embedding_<name>`` (token models) or ``sentence_embedding_<name>``
  (sentence models), where ``<name>`` is the first part of the ref as typed once its language
  and action are stripped (``bert`` for ``bert``, ``embed_sentence.bert`` and
  ``en.embed.bert.base_uncased``); two components with the same name take more parts;
- positions are ``<feature>_begin``/``<feature>_end`` for the text column and for each
  embeddings column, with NLU's inclusive end ('love' in "I love data science!" is 2-5);
- with ``metadata=True`` the sentence number of word vectors is ``<word column>_origin_sentence``;
- columns are sorted alphabetically, as NLU sorts them. See docs/from-nlu.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from .resolve import Component

# Leading parts NLU drops before naming a column (col_name_substitution_utils.cleanable_splits).
_CLEANABLE = {"ner_converter", "spell", "ner_to_chunk_converter", "train", "classify", "ner", "med_ner", "dl",
              "match", "clean", "sentiment", "embed", "embed_sentence", "embed_chunk", "explain", "pos",
              "resolve_chunk", "resolve"}
# NLU's language codes (the keys of nlu.Spellbook.pretrained_models_references in NLU 5.4.1), stripped too.
_LANGUAGES = frozenset("""
    ab af als am an ar arz as ast az azb ba bar bcl be bem bg bh bn bo bpy br bs ca ce ceb ch ckb co
    cop cs cu cv cy da de diq dv el eml en eo es et eu fa fi fo fon fr fro frr fy ga gam gd gl gom
    got grc gu gv ha he hi hif hr hsb hu hy hyw id ig is it ja jv ka kab kin kn ko kr ku ky la lb lg
    lij lmo lo lou lt lu luo lv lwt lzh mai mg min mk ml mn mr ms mt mwl my myv mzn nah nap nb nds
    ne new nl nn no nso oc or orv os pa pcm pfl pl pms pnb ps pt qhe qtd qu rm ro ru rw sa sae sah
    sc scn sco sd sg sh si sk sl sme so sq sr st su sv sw swa ta te tg th ti tk tl tn tr tt tw ug uk
    unk ur uz vec vi vls vn vo wa war wo xmf xx yi yo yue zea zh zu
""".split())


def columns(frame: pd.DataFrame, components: Sequence[Component], level: str) -> pd.DataFrame:
    """``frame`` (easynlu's names) with NLU's column names, positions and order (a new frame)."""
    names = vector_names(components)
    out = frame.rename(columns={c.column: name for c, name in zip(components, names, strict=True)})
    if "start" in out.columns and "end" in out.columns:
        begin, end = out["start"], out["end"] - 1  # NLU's end is the index of the last character
        for feature in (level, *names):
            out[f"{feature}_begin"], out[f"{feature}_end"] = begin, end
        out = out.drop(columns=["start", "end"])
    if "sentence_id" in out.columns and level == "token" and names[0].startswith("word_embedding_"):
        out = out.rename(columns={"sentence_id": f"{names[0]}_origin_sentence"})
    return out.reindex(columns=sorted(out.columns, key=str))


def vector_names(components: Sequence[Component]) -> list[str]:
    """NLU's name of each component's vectors column, made unique as NLU does (more ref parts)."""
    parts = [_name_parts(c.requested or c.ref) if c.source == "catalogue" else [c.column.removesuffix("_embeddings")]
             for c in components]  # hf: ids and paths have no NLU name: their easynlu one
    kinds = ["sentence" if c.action == "embed_sentence" else "word" for c in components]
    depth = [1] * len(components)
    for _ in range(10):  # NLU tries depths up to 10
        names = [f"{k}_embedding_{'_'.join(p[:d])}" for k, p, d in zip(kinds, parts, depth, strict=True)]
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            break
        depth = [d + 1 if n in clashes else d for n, d in zip(names, depth, strict=True)]
    return names


def _name_parts(ref: str) -> list[str]:
    parts = ref.split(".")
    while len(parts) > 1 and (parts[0] in _LANGUAGES or parts[0] in _CLEANABLE):
        parts.pop(0)
    return parts
