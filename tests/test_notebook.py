"""The notebooks in notebooks/ run from top to bottom, offline, in a kernel of this very interpreter.

The kernel is ipykernel's spec for ``sys.executable``, written to a temporary directory and looked up
only there, so a ``python3`` kernelspec left in the user's Jupyter dirs (from another environment)
cannot make the notebook run against a different Python or another copy of easynlu. This needs
nothing beyond ``pip install -e ".[test]"`` (ipykernel, nbclient, nbformat).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = "python3"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel_manager_factory(tmp_path_factory):
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix))  # argv: [sys.executable, "-m", "ipykernel_launcher", ...]
    kernels = prefix / "share" / "jupyter" / "kernels"
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    assert specs.get_kernel_spec(KERNEL).argv[0] == sys.executable

    def make():
        return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)

    return make


def execute(path: Path, kernel_manager_factory):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        assert not (cell.get("outputs") or cell.get("execution_count")), f"{path.name} is stored with outputs"
    # one more cell, not saved anywhere: which Python and which easynlu the kernel ran
    notebook.cells.append(
        nbformat.v4.new_code_cell("import sys, easynlu; print(sys.executable); print(easynlu.__file__)"))
    client = nbclient.NotebookClient(notebook, km=kernel_manager_factory(), kernel_name=KERNEL, timeout=600,
                                     allow_errors=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    return notebook


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream" and output.name == "stdout":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def run_offline(path: Path, kernel_manager_factory):
    """The executed notebook, after checking it sets HF_HUB_OFFLINE first and no cell failed."""
    notebook = execute(path, kernel_manager_factory)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    stderr = [o.text for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert not any("IProgress not found" in text for text in stderr), stderr  # no ipywidgets: a text bar, quietly
    assert 'os.environ["HF_HUB_OFFLINE"] = "1"' in notebook.cells[0].source
    return notebook


def tagged(notebook, tag: str):
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}"
    return cells[0]


def test_notebook_quickstart_runs_offline_in_this_interpreter(kernel_manager_factory):
    import easynlu

    path = NOTEBOOKS / "quickstart.ipynb"
    notebook = run_offline(path, kernel_manager_factory)

    executable, package = text_of(notebook.cells[-1]).split()
    assert executable == sys.executable
    assert Path(package).resolve() == Path(easynlu.__file__).resolve()

    assert "not loaded yet" in text_of(tagged(notebook, "load"))

    token_rows = [line.split()[:2] for line in text_of(tagged(notebook, "token")).splitlines()[1:]]
    assert token_rows == [["0", "I"], ["0", "love"], ["0", "NLP"]]

    sentence = text_of(tagged(notebook, "sentence"))
    assert "float32 (384,)" in sentence
    assert "I love NLP." in sentence and "Embeddings are vectors." in sentence

    document_rows = text_of(tagged(notebook, "document")).splitlines()[1:]
    assert len(document_rows) == 3 and document_rows[1].split() == ["1", "None"]

    positions = text_of(tagged(notebook, "positions"))
    assert "start" in positions and "end" in positions and "easynlu" in positions

    carried = text_of(tagged(notebook, "dataframe"))
    assert "stars" in carried and "r1" in carried and "r2" in carried

    similarity = text_of(tagged(notebook, "similarity"))
    assert "(3, 384) float32" in similarity
    assert "guitar" in similarity and "stocks" in similarity

    assert "en.embed.bert.small_L4_512" in text_of(tagged(notebook, "models"))
    info = text_of(tagged(notebook, "info"))
    assert "'loaded': True" in info and "sentence-transformers/all-MiniLM-L6-v2" in info


def test_notebook_similarity_and_plots_runs_offline(kernel_manager_factory):
    path = NOTEBOOKS / "similarity_and_plots.ipynb"
    notebook = run_offline(path, kernel_manager_factory)

    similarity = text_of(tagged(notebook, "similarity"))
    assert "(12, 12)" in similarity and "guitar" in similarity and "snow" in similarity
    two_lists = text_of(tagged(notebook, "similarity_ab"))
    assert "(2, 12)" in two_lists and "guitar" in two_lists

    search = text_of(tagged(notebook, "search"))
    assert "top hit: music |" in search
    for column in ("query_text", "rank", "label", "text", "score"):
        assert column in search

    index = text_of(tagged(notebook, "index"))
    assert "Will it rain tomorrow? -> weather:" in index
    assert "How did the shares do? -> money:" in index
    assert "Which instrument does she play? -> music:" in index

    langchain = text_of(tagged(notebook, "langchain")).splitlines()  # "score topic: text", nearest first
    assert len(langchain) == 2 and langchain[0].split(" ", 1)[1] == "weather: Snow is expected this weekend."
    assert float(langchain[0].split()[0]) >= float(langchain[1].split()[0])

    for tag in ("heatmap", "map"):
        images = [o for o in tagged(notebook, tag).outputs
                  if o.output_type == "display_data" and "image/png" in o.get("data", {})]
        assert len(images) == 1, f"the {tag!r} cell should show one figure"


def test_notebook_from_nlu_runs_offline(kernel_manager_factory):
    import json

    path = NOTEBOOKS / "from_nlu.ipynb"
    notebook = run_offline(path, kernel_manager_factory)
    assert "import easynlu as nlu" in tagged(notebook, "sentence").source

    sentence = text_of(tagged(notebook, "sentence"))
    assert "He was suprised by the diversity of NLU" in sentence and "Stocks fell sharply today." in sentence

    dropna = text_of(tagged(notebook, "dropna"))  # "" and None keep a row each, with no vector; dropna removes them
    assert "7 rows before dropna" in dropna and "5 rows after dropna" in dropna
    assert "(5, 384) float32" in text_of(tagged(notebook, "stack"))

    similarity = text_of(tagged(notebook, "similarity"))
    assert "(4, 4)" in similarity
    assert "She plays the guitar in a band. -> The band played a song on the guitar." in similarity

    # NLU's column style, checked against the token positions NLU's docs print (inclusive end)
    nlu_style = [line for line in text_of(tagged(notebook, "nlu-style")).splitlines() if line.strip()]
    columns = nlu_style[0]
    assert "'token', 'token_begin', 'token_end', 'word_embedding_" in columns
    table = json.loads((Path(__file__).parent / "data" / "nlu_documented_outputs.json").read_text())
    documented = next(o for o in table["outputs"] if o["id"] == "token_positions")["rows"]
    rows = [line.split() for line in nlu_style[2:2 + len(documented)]]
    assert rows == [[str(r["index"]), r["token"], str(r["begin"]), str(r["end"])] for r in documented]
    assert "predict_embeds: (4, 384) float32" in nlu_style
    assert "sentence_id" in nlu_style[-8] and nlu_style[-1].split() == ["0", ".", "1"]


def test_notebook_spark_runs_offline(kernel_manager_factory):
    import shutil

    pytest.importorskip("pyspark", reason="the Spark notebook needs the spark extra: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("the Spark notebook needs Java (no `java` on PATH): install a JDK 17")
    notebook = run_offline(NOTEBOOKS / "spark.ipynb", kernel_manager_factory)
    assert "PYSPARK_PYTHON" in notebook.cells[0].source

    schema = text_of(tagged(notebook, "schema"))
    assert "en_embed_minilm_embeddings: array" in schema and "element: float" in schema and "id: long" in schema
    documents = text_of(tagged(notebook, "document"))
    assert "I love NLP. It is fun." in documents and "384" in documents
    tokens = [line.split("|")[1:5] for line in text_of(tagged(notebook, "token")).splitlines() if "|" in line]
    assert [[cell.strip() for cell in row] for row in tokens[1:4]] == [["1", "I", "0", "1"], ["1", "love", "2", "6"],
                                                                      ["1", "NLP", "7", "10"]]
    assert "same rows: True | largest vector difference below 1e-5: True" in text_of(tagged(notebook, "pandas-equal"))
    stream = text_of(tagged(notebook, "stream"))
    assert "rows written: 3" in stream and "en_embed_minilm_embeddings" in stream
