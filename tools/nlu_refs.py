"""Build easynlu/nlu_refs.toml and docs/nlu-refs.md from NLU's spellbook table.

Input: tools/nlu-spellbook-bert.txt, every BERT-family embedding ref of NLU 5.4.1's spellbook with the
Spark NLP model it loads (a copy of the project's reference file). Each NLU ref either maps to an
easynlu catalogue ref naming the same checkpoint (only where the Spark NLP name spells out a model
certainly), or is listed as not available with a reason. Run ``python tools/nlu_refs.py`` from the
repository root; ``--check`` exits 1 if the committed files differ from what it would write.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tools" / "nlu-spellbook-bert.txt"
TOML = ROOT / "easynlu" / "nlu_refs.toml"
DOCS = ROOT / "docs" / "nlu-refs.md"

_LINE = re.compile(r"^'(?P<ref>[^']+)': \(?'(?P<spark>[^']+)'")
_LANG = re.compile(r"^[a-z]{2}$")

# Why a ref is not available: key -> text. The key is stored in nlu_refs.toml, the text in [reasons].
REASONS = {
    "hub-import": "Spark NLP imported this model from the Hugging Face Hub, but its name does not spell out "
                  "which Hub model, and its model card could not be checked offline",
    "other-language": "Spark NLP's model of this name for this language is a language-specific model, not "
                      "Google's English checkpoint of the same name, and its Hugging Face origin could not be "
                      "confirmed offline",
    "unconfirmed": "the Spark NLP name does not identify a public Hugging Face checkpoint with certainty (it may be "
                   "Spark NLP's own conversion from TF Hub or the authors' release, John Snow Labs' own training, "
                   "or an import whose origin could not be checked offline)",
    "space": "the NLU ref holds a space, and easynlu splits a request on whitespace, so it cannot be typed",
}


@dataclass(frozen=True)
class Row:
    """One line of the spellbook table."""

    nlu: str  # NLU ref, as NLU spells it
    spark: str  # Spark NLP model name
    language: str  # the Spark NLP language NLU passes (the ref's prefix, else "en")
    action: str  # "embed" | "embed_sentence"


def read(path: Path = SOURCE) -> list[Row]:
    """Parse the spellbook table; raise ValueError on a line it cannot read."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"{path}:{number}: cannot read {line!r}")
        parts = m["ref"].split(".")
        language = parts[0] if len(parts) > 1 and _LANG.match(parts[0]) else "en"
        rest = parts[1:] if language == parts[0] and len(parts) > 1 and _LANG.match(parts[0]) else parts
        action = "embed_sentence" if rest[0] == "embed_sentence" else "embed"
        rows.append(Row(m["ref"], m["spark"], language, action))
    return rows


def checkpoint(spark: str, language: str) -> str | None:
    """The Hugging Face id certainly holding Spark NLP model ``spark`` of ``language``, or None."""
    name = spark.removeprefix("sent_")
    if language == "en":
        m = re.fullmatch(r"small_bert_L(\d+)_(\d+)", name)
        if m:
            layers, hidden = int(m[1]), int(m[2])
            return f"google/bert_uncased_L-{layers}_H-{hidden}_A-{hidden // 64}"
        m = re.fullmatch(r"bert_(base|large)_(cased|uncased)", name)
        if m:
            return f"google-bert/bert-{m[1]}-{m[2]}"
        m = re.fullmatch(r"bert_embeddings_(?:bert_)?large_(cased|uncased)_whole_word_masking", name)
        if m:
            return f"google-bert/bert-large-{m[1]}-whole-word-masking"
    if language == "xx" and name in ("bert_multi_cased", "bert_base_multilingual_cased"):
        return "google-bert/bert-base-multilingual-cased"
    if language == "xx" and name == "bert_base_multilingual_uncased":
        return "google-bert/bert-base-multilingual-uncased"
    if language == "zh" and name == "bert_base_chinese":
        return "google-bert/bert-base-chinese"
    return None


def reason(row: Row) -> str:
    """The REASONS key for a row that has no certain checkpoint."""
    if re.search(r"\s", row.nlu):
        return "space"
    if checkpoint(row.spark, "en") is not None:
        return "other-language"
    if re.match(r"^(sent_)?[a-z]+_(sentence_)?embeddings_", row.spark):
        return "hub-import"
    return "unconfirmed"


def classify(rows: list[Row]) -> tuple[list[tuple[Row, str, str]], list[tuple[Row, str]]]:
    """Split rows into ``(row, canonical ref, model id)`` mappings and ``(row, reason key)`` leftovers."""
    from easynlu import catalogue

    mapped, left = [], []
    for row in rows:
        model = None if re.search(r"\s", row.nlu) else checkpoint(row.spark, row.language)
        if model is None:
            left.append((row, reason(row)))
            continue
        action = "embed_sentence" if row.spark.startswith("sent_") else "embed"
        if action != row.action:
            raise ValueError(f"{row.nlu}: NLU's action {row.action} but Spark NLP model {row.spark} is {action}")
        found = [e for e in catalogue.for_model(model) if e.action == action]
        if len(found) != 1:
            raise ValueError(f"{row.nlu}: no single catalogue entry for {model} ({action}); add one first")
        mapped.append((row, found[0].ref, model))
    return mapped, left


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_toml(rows: list[Row]) -> str:
    """The text of easynlu/nlu_refs.toml."""
    mapped, left = classify(rows)
    out = [
        "# NLU 5.4.1's BERT-family embedding refs -> easynlu. GENERATED by tools/nlu_refs.py from",
        "# tools/nlu-spellbook-bert.txt: do not edit by hand. Read by easynlu/catalogue.py.",
        "#",
        "# [refs]           NLU ref = { ref = easynlu canonical ref, spark = Spark NLP model NLU loads }",
        "# [not_available]  NLU ref = { spark = Spark NLP model, language = its language, reason = key }",
        "# [reasons]        reason key = why easynlu cannot load it",
        f"# {len(mapped)} refs resolve, {len(left)} are not available; {len(rows)} in all.",
        "",
        "[reasons]",
        *(f"{key} = {_q(text)}" for key, text in REASONS.items()),
        "",
        "[refs]",
        *(f"{_q(r.nlu)} = {{ ref = {_q(ref)}, spark = {_q(r.spark)} }}" for r, ref, _ in mapped),
        "",
        "[not_available]",
        *(f"{_q(r.nlu)} = {{ spark = {_q(r.spark)}, language = {_q(r.language)}, reason = {_q(why)} }}"
          for r, why in left),
    ]
    return "\n".join(out) + "\n"


def build_docs(rows: list[Row]) -> str:
    """The text of docs/nlu-refs.md."""
    mapped, left = classify(rows)
    counts = {key: sum(1 for _, why in left if why == key) for key in REASONS}
    out = [
        "# NLU refs in easynlu",
        "",
        "<!-- GENERATED by tools/nlu_refs.py from tools/nlu-spellbook-bert.txt: do not edit by hand. -->",
        "",
        f"NLU 5.4.1's spellbook has {len(rows)} BERT-family embedding refs (BERT, ALBERT, RoBERTa, XLM-R,",
        "DistilBERT, CamemBERT, DeBERTa, MPNet and others). easynlu follows NLU's own table, not a rule of",
        "thumb: an NLU ref resolves only where the Spark NLP model it loads certainly is a public Hugging Face",
        "checkpoint, and then to an easynlu catalogue ref naming that checkpoint (its output column is the",
        "catalogue ref's column). Every other ref raises `easynlu.UnknownReferenceError` saying which Spark",
        "NLP model NLU loads and why easynlu cannot; if you know the checkpoint, load it with `hf:ORG/NAME`.",
        "",
        f"- **{len(mapped)} resolve** to the checkpoint NLU loads.",
        f"- **{len(left)} are not available**:",
        *(f"  - {counts[key]}: {text}." for key, text in REASONS.items()),
        "",
        "Resolution order: an exact catalogue ref or alias, then this table, then `en.` + the name in the",
        "catalogue, then `en.` + the name in this table, then user aliases, then directories. Matching is",
        "case-insensitive. `easynlu.models()` lists canonical refs; its `aliases` column includes the NLU",
        "refs that resolve to each one.",
        "",
        "## Deliberate differences",
        "",
        "| NLU ref | NLU loads | easynlu loads | why |",
        "|---|---|---|---|",
        "| `embed`, `en.embed` | GloVe word vectors (`glove_100d`) | `en.embed.minilm` | GloVe is not a BERT model; "
        "easynlu's default is the MiniLM that ships with it and works offline |",
        "| `embed_sentence`, `en.embed_sentence` | Universal Sentence Encoder (`tfhub_use`) | "
        "`en.embed_sentence.minilm` | USE is not a BERT model; easynlu's default is the offline MiniLM |",
        f"| the {len(left)} refs listed below as not available | a Spark NLP model | nothing: "
        "`UnknownReferenceError` naming NLU's model and the reason | no public checkpoint is certain to be the "
        "same model, and easynlu never loads a different one; `hf:ORG/NAME` loads one you know |",
        "",
        "Where NLU's table and an older easynlu name disagreed, NLU's wins: `bert` and `embed_sentence.bert`",
        "are `small_bert_L2_128` (2 layers, 128-d; NLU's own table gives `en.embed_sentence.bert` the",
        "base model, and easynlu follows it there too), and `zh.embed_sentence.bert` is NLU's",
        "`sbert_chinese_qmc_finance_v1` (not available), so easynlu's Chinese sentence ref is now",
        "`zh.embed_sentence.bert.base_chinese` (`zh.embed_sentence` still names it).",
        "",
        "## How a mapping is decided",
        "",
        "Only Spark NLP names that spell out one public checkpoint are mapped (see `checkpoint()` in",
        "tools/nlu_refs.py):",
        "",
        "- `small_bert_L{L}_{H}` (en): the BERT miniatures, `google/bert_uncased_L-{L}_H-{H}_A-{H/64}`;",
        "- `bert_{base,large}_{uncased,cased}` (en): Google's BERT, `google-bert/bert-{base,large}-{uncased,cased}`;",
        "- `bert_embeddings_[bert_]large_{uncased,cased}_whole_word_masking` (en):",
        "  `google-bert/bert-large-{uncased,cased}-whole-word-masking`;",
        "- `bert_multi_cased`, `bert_base_multilingual_cased` / `_uncased` (xx):",
        "  `google-bert/bert-base-multilingual-cased` / `-uncased`;",
        "- `bert_base_chinese` (zh): `google-bert/bert-base-chinese`;",
        "- a `sent_` prefix is the same checkpoint as a sentence model (the vector is BERT's pooled output, as",
        "  Spark NLP's BertSentenceEmbeddings).",
        "",
        "The Spark NLP model cards that name the Hub model behind each `*_embeddings_*` import could not be",
        "read when this table was built (offline; the spark-nlp repository snapshot was too large to fetch),",
        "so those refs are listed as not available rather than guessed. Cards that were readable did not",
        "give a Hub id either: `covidbert_large_uncased` was imported from TF Hub",
        "(`digitalepidemiologylab/covid-twitter-bert/2`). A ref moves to the resolving table when its",
        "checkpoint is confirmed: add the rule to `checkpoint()` and rerun `python tools/nlu_refs.py`.",
        "",
        "## Refs that resolve",
        "",
        "| NLU ref | Spark NLP model | easynlu ref | Hugging Face model |",
        "|---|---|---|---|",
        *(f"| `{r.nlu}` | `{r.spark}` | `{ref}` | `{model}` |" for r, ref, model in mapped),
        "",
        "## Refs that are not available",
        "",
        "| NLU ref | Spark NLP model (language) | reason |",
        "|---|---|---|",
        *(f"| `{r.nlu}` | `{r.spark}` ({r.language}) | {why} |" for r, why in left),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """Write (or with ``--check``, compare) the generated files; return the exit status."""
    sys.path.insert(0, str(ROOT))
    rows = read()
    outputs = {TOML: build_toml(rows), DOCS: build_docs(rows)}
    if "--check" in argv:
        stale = [str(p) for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print("stale: " + ", ".join(stale) + "; run python tools/nlu_refs.py", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
    mapped, left = classify(rows)
    print(f"{len(mapped)} resolve, {len(left)} not available, {len(rows)} in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
