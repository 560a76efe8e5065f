"""`import easynlu` and `load()` stay light: no torch, transformers or sentence_transformers."""

import os
import subprocess
import sys

HEAVY = ("torch", "transformers", "sentence_transformers", "pandas")


def test_import_alone_loads_not_even_numpy():  # so that `import easynlu` stays well under 0.1 s
    code = "import sys, easynlu\nprint([m for m in ('numpy', 'tqdm', 'huggingface_hub') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, easynlu\n"
        "p = easynlu.load('en.embed.bert.small_L12_128 en.embed_sentence.minilm')\n"
        "repr(p); p.info()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_core_modules_need_no_torch():
    # Everything but the backends' own model code runs without torch and transformers.
    modules = ["catalogue", "resolve", "useraliases", "inputs", "segment", "backends", "backends.batching",
               "pooling", "compute", "frames", "pipeline", "options", "encoded", "errors", "loaded", "sources",
               "cli"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('easynlu.' + name)\n"
        "from easynlu.options import Options\n"
        "Options(output_level='sentence', pooling='max', layers=[-1, -2])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_ships_type_information():
    from importlib import resources

    assert resources.files("easynlu").joinpath("py.typed").is_file()


def test_import_version():
    import easynlu

    assert isinstance(easynlu.__version__, str) and easynlu.__version__.count(".") == 2


def test_import_embed_on_a_list_does_not_need_pandas():
    # embed() returns numpy; a caller who never imported pandas should not pay for it.
    code = (
        "import sys, easynlu\n"
        "v = easynlu.load('embed').embed(['I love NLP', None, ''], progress=False)\n"
        "print(v.shape, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.stdout.strip() == "(3, 384) False"
