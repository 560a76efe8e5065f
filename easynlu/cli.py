"""The ``easynlu`` command line: predict, models, download, cache, save, export and serve.

    easynlu predict "I love NLP"                      # token level, the offline default model
    easynlu predict "I love NLP" --level document --format json
    cat texts.txt | easynlu predict - --model embed_sentence --format csv > vectors.csv
    easynlu predict --input texts.parquet --text-column body --output vectors.parquet   # resumable
    easynlu models "*small*"
    easynlu download en.embed.bert.small_L4_256       # fetch now, work offline later
    easynlu cache                                     # what the Hugging Face cache holds
    easynlu cache --delete en.embed.bert.small_L4_256
    easynlu save embed embed_sentence ./my-pipeline
    easynlu export embed                              # ONNX export once; then:
    easynlu predict "I love NLP" --backend onnx
    easynlu serve en.embed_sentence.minilm --port 8000   # OpenAI's embeddings API over HTTP
    easynlu distill --teacher en.embed_sentence.minilm --layers 0,3,5 --input texts.txt
    easynlu fit --model en.embed_sentence.minilm --input pairs.csv

Importing this module is light: pandas and torch load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import easynlu
from easynlu import writers
from easynlu.errors import EasyNLUError, ModelUnavailableError, OptionError
from easynlu.options import (
    LAYER_POOLINGS,
    LEVELS,
    POOLINGS,
    QUANTIZE,
    SUBWORD_POOLINGS,
    LoadOptions,
    Options,
    given_load_options,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_MODEL = "en.embed.minilm"
FORMATS = ("table", "json", "csv")
DEFAULTS = Options()
OUTPUTS = (".parquet", ".jsonl", ".csv")
_PYTHON_MODELS_HINT = re.compile(r"easynlu\.models\((?:'([^']*)')?\)")  # said as the command in errors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="easynlu",
        description="NLU-style embeddings on PyTorch and transformers, as tables, JSON lines or CSV.",
    )
    parser.add_argument("--version", action="version", version=f"easynlu {easynlu.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_predict_command(commands)

    models = commands.add_parser("models", help="list the model catalogue",
                                 description="List the catalogue, optionally filtered by a glob PATTERN.")
    models.add_argument("pattern", nargs="?", default=None, metavar="PATTERN",
                        help="a glob on refs and aliases, e.g. '*small*' or 'en.embed_sentence.*'")
    models.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format (default: table)")
    models.set_defaults(run=_models)
    _add_hub_commands(commands)
    _add_serve_command(commands)
    _add_train_commands(commands)
    return parser


def _add_predict_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="embed texts and print one row per token, sentence or document",
        description="Embed TEXTs and print the DataFrame that Pipeline.predict returns. "
                    "A TEXT of '-' reads standard input (one text per line, see --stdin). "
                    "For big inputs, --input FILE streams a file chunk by chunk (memory bounded by "
                    "--chunk-size) into --output; an interrupted run resumes when run again with the same "
                    "arguments (parquet: from its _progress.json; .jsonl/.csv: from OUT.progress.json, removed "
                    "once OUT is complete).",
    )
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="a text to embed; '-' reads standard input")
    predict.add_argument("-i", "--input", default=None, metavar="FILE",
                         help="instead of TEXTs, stream a .txt (one text per line), .csv, .tsv, .parquet or "
                              ".jsonl file")
    predict.add_argument("--text-column", default=None, metavar="C",
                         help="with --input: the column holding the text (default: 'text', else the first "
                              "string column)")
    predict.add_argument("-o", "--output", default=None, metavar="OUT",
                         help="with --input: write OUT.parquet (a directory of parts, vectors as float32 lists), "
                              "OUT.jsonl or OUT.csv chunk by chunk, with a progress bar on stderr; running the "
                              "same command again resumes an interrupted run (default: print to stdout in --format)")
    predict.add_argument("--chunk-size", type=int, default=1000, metavar="N",
                         help="with --input: input rows per chunk (default: 1000)")
    predict.add_argument("-m", "--model", default=DEFAULT_MODEL, metavar="REF",
                         help=f"model reference(s), space-separated (default: {DEFAULT_MODEL}, which works offline)")
    predict.add_argument("-l", "--level", choices=LEVELS, default=None,
                         help="output level (default: the first model's: token for embed, sentence for embed_sentence)")
    predict.add_argument("--positions", action="store_true", help="add start and end character offsets")
    predict.add_argument("--normalize", action="store_true", help="L2-normalise every vector")
    predict.add_argument("--pooling", choices=POOLINGS, default=DEFAULTS.pooling,
                         help="how a token model pools words into sentence/document vectors "
                              "(default: the model's own pooling if it defines one, else mean)")
    predict.add_argument("--subword-pooling", choices=SUBWORD_POOLINGS, default=DEFAULTS.subword_pooling,
                         help=f"a word's vector from its wordpieces (default: {DEFAULTS.subword_pooling})")
    predict.add_argument("--layers", type=_layer_list, default=[DEFAULTS.layers], metavar="N[,N...]",
                         help="hidden layer(s) to read, comma-separated: -1 is the last, -1,-2 the last two "
                              "(default: -1)")
    predict.add_argument("--layer-pooling", choices=LAYER_POOLINGS, default=DEFAULTS.layer_pooling,
                         help=f"with several --layers: average or concatenate them (default: {DEFAULTS.layer_pooling})")
    predict.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, metavar="N",
                         help="at most N texts per batch (default: batches by token count only)")
    _add_load_arguments(predict)
    predict.add_argument("-f", "--format", choices=FORMATS, default="table",
                         help="table: vectors shortened for reading; json: JSON lines with full vectors; "
                              "csv: full vectors as JSON lists in the cells (default: table)")
    predict.add_argument("--show", type=int, default=3, metavar="N",
                         help="in a table, how many values of each vector to show (default: 3)")
    predict.add_argument("--stdin", choices=("lines", "whole"), default="lines",
                         help="with '-': one text per line (default), or all of standard input as one text")
    predict.set_defaults(run=_predict)


def _layer_list(value: str) -> list[int]:
    """``--layers``: one layer (``-1``) or a comma-separated list (``-1,-2``)."""
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a layer or comma-separated layers, e.g. -1 or -1,-2; "
                                         f"got {value!r}") from None


def _joined_layers(argv: list[str]) -> list[str]:
    """``--layers -1,-2`` as ``--layers=-1,-2``: argparse reads a value like -1,-2 as an unknown option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--layers" and "--" not in out and re.match(r"-\d.*,", arg):
            out[-1] = f"--layers={arg}"
        else:
            out.append(arg)
    return out


def _add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per LoadOptions field (--device, --gpu, --dtype, --offline, --backend, --quantize, --threads)."""
    for option in fields(LoadOptions):
        flag, hints = f"--{option.name.replace('_', '-')}", option.metadata
        if option.type in ("bool", "bool | None"):  # a switch: given means True
            parser.add_argument(flag, action="store_const", const=True, default=option.default, help=hints["help"])
        else:
            parser.add_argument(flag, default=option.default, choices=hints["choices"], help=hints["help"],
                                type=int if option.type == "int | None" else str,
                                metavar=None if hints["choices"] else option.name.upper())


def _load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The load options given on the command line, as ``easynlu.load`` keywords."""
    return given_load_options(vars(args))


def _add_hub_commands(commands: argparse._SubParsersAction) -> None:
    download = commands.add_parser(
        "download", help="fetch models into the Hugging Face cache now, to work offline later",
        description="Download each REF's config, tokenizer and weights (safetensors preferred) into the "
                    "Hugging Face cache. Models shipped in an installed package need no download.")
    download.add_argument("refs", nargs="+", metavar="REF", help="a catalogue ref or hf:ORG/NAME")
    download.add_argument("--force", action="store_true",
                          help="download a packaged model into the Hugging Face cache too")
    download.set_defaults(run=_download)

    cache = commands.add_parser(
        "cache", help="list or delete the cached models and easynlu's ONNX exports of them",
        description="List the models in the Hugging Face cache that the catalogue knows, and easynlu's own "
                    "ONNX exports (float32 and int8) with the model each was made from; or delete them.")
    cache.add_argument("--all", action="store_true", help="list every cached model repo, known or not")
    cache.add_argument("--delete", nargs="+", metavar="REF", default=None,
                       help="delete every cached revision of these models, and their ONNX exports")
    cache.add_argument("--prune", action="store_true",
                       help="delete only the ONNX exports no load uses now (made by another torch or easynlu, "
                            "or whose model is gone)")
    cache.add_argument("--delete-exports", action="store_true",
                       help="delete every easynlu ONNX export (the models stay; the next ONNX load exports again)")
    cache.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format (default: table)")
    cache.set_defaults(run=_cache)

    save = commands.add_parser(
        "save", help="save a pipeline's models and settings to a directory",
        description="Load the pipeline REF... and save it to DIR with Pipeline.save.")
    save.add_argument("refs", nargs="+", metavar="REF", help="model reference(s) of the pipeline")
    save.add_argument("dir", metavar="DIR", help="the directory to save to")
    _add_load_arguments(save)
    save.set_defaults(run=_save)

    export = commands.add_parser(
        "export", help="export models to ONNX now, so that backend='onnx' starts at once",
        description="Export each REF's model to ONNX (torch.onnx.export) into easynlu's cache, once; "
                    "needs easynlu[onnx].")
    export.add_argument("refs", nargs="+", metavar="REF", help="a catalogue ref, hf:ORG/NAME or a directory")
    export.add_argument("--quantize", choices=QUANTIZE, default=None, help="also make the int8 export")
    export.add_argument("--offline", action="store_true",
                        help="never contact the Hugging Face Hub (as HF_HUB_OFFLINE=1)")
    export.set_defaults(run=_export)


def _add_serve_command(commands: argparse._SubParsersAction) -> None:
    from easynlu.serve.limits import Limits

    limits = Limits()
    serve = commands.add_parser(
        "serve", help="serve models over HTTP: OpenAI's embeddings API, and predict's rows",
        description="Serve each REF over HTTP (needs easynlu[serve]): POST /v1/embeddings (OpenAI's embeddings "
                    "API), POST /v1/predict (token, sentence or document rows with offsets), GET /v1/models, "
                    "GET /health. Requests that arrive together are encoded together (dynamic batching). Binds "
                    "127.0.0.1 unless --host says otherwise. Logs (access lines as JSON, progress, warnings) go "
                    "to stderr.")
    serve.add_argument("refs", nargs="+", metavar="REF",
                       help="a model to serve; requests name it by this REF in 'model' (quote space-separated refs "
                            "to serve them as one pipeline)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to bind (default: 127.0.0.1, this "
                                                           "machine only; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8000, help="the port (default: 8000)")
    serve.add_argument("--api-key", default=None, metavar="KEY",
                       help="require 'Authorization: Bearer KEY' (default: $EASYNLU_API_KEY; none if unset)")
    serve.add_argument("--max-inputs", type=int, default=limits.max_inputs, metavar="N",
                       help=f"texts per request (default: {limits.max_inputs})")
    serve.add_argument("--max-chars", type=int, default=limits.max_chars, metavar="N",
                       help=f"characters per request, all texts together (default: {limits.max_chars})")
    serve.add_argument("--queue-size", type=int, default=limits.queue_size, metavar="N",
                       help=f"texts waiting per model before requests get 503 (default: {limits.queue_size})")
    serve.add_argument("--batch-texts", type=int, default=limits.batch_texts, metavar="N",
                       help=f"texts per merged model run (default: {limits.batch_texts})")
    serve.add_argument("--timeout", type=float, default=limits.timeout, metavar="S",
                       help=f"seconds a request may wait and run before a 504 (default: {limits.timeout:g})")
    serve.add_argument("--no-batching", action="store_true",
                       help="run each request alone instead of merging concurrent ones (for comparison)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                       help="log level (default: info)")
    _add_load_arguments(serve)
    # a server saturated by 32 clients did 6% more texts/s with ONNX Runtime's threads sleeping between runs
    # (6 runs of benchmarks/serve.py on 2 cores), at a higher p99 when half loaded: serve shares by default
    serve.set_defaults(run=_serve, share_cpu=True)
    serve.add_argument("--spin", dest="share_cpu", action="store_false",
                       help="let ONNX Runtime's threads spin between runs, as load() does: a lower p99 at half load, "
                            "fewer texts/s when saturated (the default is --share-cpu)")


def _add_train_commands(commands: argparse._SubParsersAction) -> None:
    distill = commands.add_parser(
        "distill", help="train a smaller student to give a teacher's sentence vectors of your texts",
        description="Distil TEACHER into a student (--layers of the teacher, or --student) on the texts of "
                    "--input FILE, as easynlu.distill does; prints the trained model's directory. Running the same "
                    "command again resumes an interrupted run.")
    distill.add_argument("--teacher", required=True, metavar="REF", help="the teacher model")
    distill.add_argument("--layers", type=_layer_list, default=None, metavar="N[,N...]",
                         help="keep these layers of the teacher as the student, e.g. 0,3,5")
    distill.add_argument("--student", default=None, metavar="REF", help="another model as the student")
    distill.add_argument("--max-texts", type=int, default=None, metavar="N", help="train on the first N texts only")
    _add_run_arguments(distill, "texts: .txt (one text per line), .csv, .tsv, .parquet or .jsonl", 64, 1e-4)
    distill.add_argument("--text-column", default=None, metavar="C", help="the column holding the text")
    distill.set_defaults(run=_distill)

    fit = commands.add_parser(
        "fit", help="fine-tune a model on scored sentence pairs",
        description="Fine-tune MODEL on the pairs of --input FILE (columns text_a, text_b, score in 0..1 or 0..5), "
                    "as Pipeline.fit does; prints the tuned model's directory.")
    fit.add_argument("-m", "--model", required=True, metavar="REF", help="the model to fine-tune")
    fit.add_argument("--loss", choices=("cosine", "cosent"), default="cosine",
                     help="CosineSimilarityLoss (default) or CoSENTLoss")
    _add_run_arguments(fit, "pairs: .csv, .tsv, .parquet or .jsonl with text_a, text_b, score", 16, 2e-5)
    fit.set_defaults(run=_fit)


def _add_run_arguments(parser: argparse.ArgumentParser, what: str, batch_size: int, learning_rate: float) -> None:
    parser.add_argument("-i", "--input", required=True, metavar="FILE", help=what)
    parser.add_argument("-o", "--output-dir", default=None, metavar="DIR",
                        help="the run directory (default: one in easynlu's cache, named by the arguments)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs (default: 1)")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"(default: {batch_size})")
    parser.add_argument("--learning-rate", type=float, default=learning_rate, help=f"(default: {learning_rate:g})")
    parser.add_argument("--seed", type=int, default=42, help="(default: 42)")
    parser.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for easynlu errors and bad usage)."""
    parser = _parser()
    args = parser.parse_args(_joined_layers(sys.argv[1:] if argv is None else argv))
    if args.command == "predict":
        if args.texts.count("-") > 1:
            parser.error("'-' (standard input) may be given only once")
        if bool(args.texts) == bool(args.input):
            parser.error("give TEXTs or --input FILE (one of them)")
        if args.input is None and (args.output or args.text_column is not None):
            parser.error("--output and --text-column go with --input FILE")
        if args.output and Path(args.output).suffix.lower() not in OUTPUTS:
            parser.error(f"--output must end in {', '.join(OUTPUTS)}")
    if args.command == "serve" and len(set(args.refs)) < len(args.refs):
        parser.error("each REF may be served once")
    with warnings.catch_warnings():  # restores showwarning when the command ends
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit status."""
    try:
        args.run(args)
    except EasyNLUError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `easynlu models | head`
        _silence_stdout()
        return 0
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return 0


def _one_line(err: EasyNLUError) -> str:
    """An easynlu error as one line: what happened, what was tried, and the fix."""
    if isinstance(err, ModelUnavailableError):
        line = err.summary
        if err.tried:
            line += " Tried: " + "; ".join(err.tried) + "."
        if err.fix:
            line += f" To fix: {err.fix}."
    else:
        line = str(err)
    line = _PYTHON_MODELS_HINT.sub(lambda m: f"easynlu models '{m[1]}'" if m[1] else "easynlu models", line)
    return " ".join(part.strip() for part in line.splitlines() if part.strip())


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as one line on stderr, ``warning: <message>``, without the source line."""
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"warning: {text}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at devnull so the interpreter's final flush is quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- predict ------------------------------------------------------------------------------------
def _read_texts(texts: list[str], stdin_mode: str) -> list[str]:
    out: list[str] = []
    for text in texts:
        if text != "-":
            out.append(text)
            continue
        data = sys.stdin.read()
        if stdin_mode == "whole":
            out.append(data)
        else:
            out.extend(data.splitlines())
    return out


def _predict(args: argparse.Namespace) -> None:
    pipe = easynlu.load(args.model, **_load_options(args))
    layers = args.layers[0] if len(args.layers) == 1 else args.layers
    options = {"output_level": args.level, "positions": args.positions, "normalize": args.normalize,
               "pooling": args.pooling, "subword_pooling": args.subword_pooling, "layers": layers,
               "layer_pooling": args.layer_pooling, "batch_size": args.batch_size}
    if args.input is not None:
        _predict_file(pipe, args, options)
        return
    frame = pipe.predict(_read_texts(args.texts, args.stdin), **options)
    _print_frame(frame, pipe.info()["columns"], args)


def _predict_file(pipe: easynlu.Pipeline, args: argparse.Namespace, options: dict[str, Any]) -> None:
    """--input FILE: stream it to --output (resumable), or print chunk by chunk in --format."""
    from easynlu import stream

    where = {"chunk_size": args.chunk_size, "text_column": args.text_column, **options}
    vector_columns = pipe.info()["columns"]
    if args.output is None:
        for number, frame in enumerate(stream.predict_batches(pipe, args.input, **where)):
            _print_frame(frame, vector_columns, args, header=number == 0)
        return
    kind = Path(args.output).suffix.lower()
    if kind == ".parquet":
        stream.predict_to_parquet(pipe, args.input, args.output, progress=True, **where)
        return

    def write(frame: pd.DataFrame, out: TextIO, first: bool) -> None:
        if kind == ".jsonl":
            writers.write_json_lines(frame, vector_columns, out)
        else:
            writers.write_csv(frame, vector_columns, out, header=first)

    stream.predict_to_file(pipe, args.input, args.output, write, progress=True, **where)


def _print_frame(frame: pd.DataFrame, vector_columns: list[str], args: argparse.Namespace,
                 header: bool = True) -> None:
    if args.format == "table":
        if len(frame):  # no texts (e.g. empty standard input): no table, not pandas' "Empty DataFrame"
            print(_table(frame, vector_columns, args.show))
    elif args.format == "json":
        writers.write_json_lines(frame, vector_columns, sys.stdout)
    else:
        writers.write_csv(frame, vector_columns, sys.stdout, header=header)


def _short_vector(vector: np.ndarray | None, show: int) -> str:
    if vector is None:
        return "None"
    head = ", ".join(f"{x:.2f}" for x in vector[:show].tolist())
    if len(vector) > show:
        head = f"{head}, ..." if show > 0 else "..."
    return f"[{head}]"


def _table(frame: pd.DataFrame, vector_columns: list[str], show: int) -> str:
    import shutil

    import pandas as pd

    view = frame.copy()
    for column in vector_columns:
        view[column] = [_short_vector(v, max(show, 0)) for v in frame[column].tolist()]
    width = shutil.get_terminal_size((120, 24)).columns
    with pd.option_context("display.width", width, "display.max_columns", None,
                           "display.max_colwidth", 80):
        return view.to_string()


# -- models -------------------------------------------------------------------------------------
def _models(args: argparse.Namespace) -> None:
    import pandas as pd

    table = easynlu.models(args.pattern)
    table = table.assign(aliases=[", ".join(a) if isinstance(a, (list, tuple)) else a for a in table["aliases"]])
    if args.format == "table":
        if table.empty:
            print(f"no catalogue refs match {args.pattern!r}", file=sys.stderr)
            return
        with pd.option_context("display.width", 250, "display.max_columns", None,
                               "display.max_colwidth", 120, "display.max_rows", None):
            print(table.to_string(index=False))
    elif args.format == "json":
        for row in table.to_dict(orient="records"):
            print(json.dumps({k: writers.json_value(v) for k, v in row.items()}, ensure_ascii=False))
    else:
        table.to_csv(sys.stdout, index=False, lineterminator="\n")


# -- download, cache, save --------------------------------------------------------------------------
_HOW = {
    "downloaded": "in the Hugging Face cache",
    "packaged": "shipped in an installed package, available offline",
    "directory": "a local directory, nothing to download",
}


def _download(args: argparse.Namespace) -> None:
    from easynlu import hub_cache as hub

    for done in hub.fetch(" ".join(args.refs), force=args.force):
        name = done.ref if done.ref == done.model else f"{done.ref} ({done.model})"
        print(f"{name}: {_HOW[done.how]}: {done.path}", flush=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def _cache(args: argparse.Namespace) -> None:
    from easynlu import hub_cache as hub

    if args.delete:
        for model, freed in hub.delete_each(" ".join(args.delete)):
            if freed is None:
                print(f"{model}: not cached (in {hub.cache_dir()}), nothing to delete")
            else:
                print(f"{model}: deleted, freed {_mb(freed)} MB")
        return
    if args.prune or args.delete_exports:
        gone = hub.prune() if args.prune else hub.delete_exports()
        for d in gone:
            print(f"{d.model}: deleted its {d.export.quantize or 'float32'} ONNX export, freed "
                  f"{_mb(d.export.size_bytes)} MB")
        if not gone:
            print("no ONNX exports to delete", file=sys.stderr)
        return
    cached = hub.cached_models(all=args.all)
    rows = [{"model": m.model, "refs": ", ".join(m.refs), "size_mb": _mb(m.size_bytes), "size_bytes": m.size_bytes,
             "revisions": m.revisions, "path": str(m.path), "exports_mb": _mb(m.exports_bytes),
             "exports_bytes": m.exports_bytes} for m in cached]
    if args.format == "json":
        for m, row in zip(cached, rows, strict=True):
            record = {**row, "refs": list(m.refs), "size_mb": round(m.size_bytes / 1e6, 1),
                      "exports_mb": round(m.exports_bytes / 1e6, 1)}
            print(json.dumps(record, ensure_ascii=False))
    elif args.format == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=["model", "refs", "size_bytes", "revisions", "path",
                                                        "exports_bytes"], extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_cache_tables(rows, hub.cached_exports(), args.all, hub.cache_dir())


def _print_cache_tables(rows: list[dict[str, Any]], exports: list[Any], every: bool, where: Path) -> None:
    """The cached models, then easynlu's ONNX exports with the model each was made from."""
    if not rows:
        what = "model repos" if every else "catalogue models (--all lists every model repo)"
        print(f"no cached {what} in {where}", file=sys.stderr)
    else:
        print(_text_table(rows, ["model", "refs", "size_mb", "revisions", "exports_mb"],
                          ["model", "refs", "size (MB)", "revisions", "exports (MB)"]))
    if exports:
        if rows:
            print()
        print(f"easynlu's ONNX exports (in {exports[0].export.path.parent}):")
        table = [{"model": d.model, "kind": d.export.quantize or "float32", "size_mb": _mb(d.export.size_bytes),
                  "state": "in use" if d.export.current else "stale (easynlu cache --prune)"} for d in exports]
        print(_text_table(table, ["model", "kind", "size_mb", "state"], ["model", "kind", "size (MB)", "state"]))


def _text_table(rows: list[dict[str, Any]], keys: list[str], headers: list[str]) -> str:
    """Rows as text columns under a header line, sizes and counts right-aligned."""
    cells = [headers] + [[str(row[k]) for k in keys] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    numeric = [k in ("size_mb", "revisions", "exports_mb") for k in keys]
    return "\n".join(
        "  ".join(cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(line, widths, numeric, strict=True)
                  ).rstrip()
        for line in cells)


def _save(args: argparse.Namespace) -> None:
    pipe = easynlu.load(" ".join(args.refs), **_load_options(args))
    path = pipe.save(args.dir)
    print(f"saved {' '.join(args.refs)} to {path}")


def _export(args: argparse.Namespace) -> None:
    for ref, path in easynlu.export(" ".join(args.refs), quantize=args.quantize,
                                    offline=True if args.offline else None).items():
        print(f"{ref}: ONNX export in {path}", flush=True)


# -- serve --------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> None:
    import importlib.util

    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise OptionError(f"easynlu serve needs {' and '.join(missing)}: pip install 'easynlu[serve]' (in a clone "
                          f"of easynlu: pip install -e '.[serve]').")
    from easynlu.serve import Limits, runner

    limits = Limits(max_inputs=args.max_inputs, max_chars=args.max_chars, queue_size=args.queue_size,
                    batch_texts=args.batch_texts, timeout=args.timeout, merge=not args.no_batching)
    runner.setup_logging(args.log_level)  # loading's warnings and progress go to the log too
    pipes = {ref: easynlu.load(ref, **_load_options(args)) for ref in args.refs}
    runner.run(pipes, host=args.host, port=args.port, api_key=args.api_key, limits=limits, log_level=args.log_level)


# -- distill, fit ---------------------------------------------------------------------------------
def _run_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"output_dir": args.output_dir, "epochs": args.epochs, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "seed": args.seed, "progress": True}


def _distill(args: argparse.Namespace) -> None:
    pipe = easynlu.distill(args.teacher, args.input, layers=args.layers, student=args.student,
                           text_column=args.text_column, max_texts=args.max_texts, **_run_settings(args),
                           offline=True if args.offline else None)
    print(pipe.components[0].model)


def _fit(args: argparse.Namespace) -> None:
    from easynlu.readers import source

    chunks = list(source(args.input, 100_000).chunks)
    import pandas as pd

    pairs = pd.concat(chunks) if chunks else pd.DataFrame()
    pipe = easynlu.load(args.model, offline=True if args.offline else None)
    print(pipe.fit(pairs, loss=args.loss, **_run_settings(args)).components[0].model)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
