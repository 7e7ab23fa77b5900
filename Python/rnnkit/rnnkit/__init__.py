"""rnnkit from Python: prepare data, train, evaluate and explain RNN/LSTM/GRU text classifiers in-process.

Training runs in librnnkit (the same code as the `prep` and `train` tools, reached through its C ABI), with
the GIL released; classification runs in librnninfer (the `rnninfer` package). Settings are the tools' own:
a recipe, and any recipe field or `train` flag as a keyword.

    import rnnkit
    train = rnnkit.Dataset.from_pandas(df, text="text", label="label")
    model = rnnkit.train(train, validation=0.1, recipe="csv", epochs=10, hidden=128, seed=1)
    model.predict(["a text"]); model.evaluate(rnnkit.Dataset.from_csv("test.csv", text="text", label="label"))
"""
import ctypes
import json
import math
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import threading
import weakref
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as _numpy
import rnninfer

__version__ = "0.2.0"
ABI_VERSION = 1

__all__ = ["Dataset", "Model", "train", "load", "sweep", "RnnkitError", "InvalidArgumentError", "FormatError",
           "NotFoundError", "ReadError", "recipes"]


class RnnkitError(Exception):
    """A failure librnnkit reported; the message is the one the command-line tools print."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class InvalidArgumentError(RnnkitError, ValueError):
    """A bad setting or argument."""


class FormatError(RnnkitError, ValueError):
    """Input that is not what it should be: a row, a label, a file's bytes, a model file."""


class NotFoundError(RnnkitError, FileNotFoundError):
    """A file, recipe or split that does not exist."""


class ReadError(RnnkitError, OSError):
    """Reading or writing failed."""


_STATUS_ERRORS = {1: InvalidArgumentError, 2: NotFoundError, 3: FormatError, 5: ReadError}
_INTERRUPTED = 4


def _load_library():
    here = pathlib.Path(__file__).resolve().parent
    candidates = [os.environ.get("RNNKIT_LIBRARY"), here / "librnnkit.so",
                  here.parents[2] / "dist" / "lib" / "librnnkit.so", f"librnnkit.so.{ABI_VERSION}"]
    errors = []
    for candidate in filter(None, candidates):
        if isinstance(candidate, pathlib.Path) and not candidate.exists():
            continue
        try:
            return ctypes.CDLL(str(candidate))
        except OSError as error:
            errors.append(f"{candidate}: {error}")
    raise ImportError("librnnkit not found (install the rnnkit wheel, run Tools/build-runtime, or set "
                      "RNNKIT_LIBRARY): " + "; ".join(errors))


_library = _load_library()
try:
    _library.rnnkit_abi_version.restype = ctypes.c_int32
    _library_abi = _library.rnnkit_abi_version()
except AttributeError:
    raise ImportError(f"{_library._name} is not librnnkit (it has no rnnkit_abi_version)") from None
if _library_abi != ABI_VERSION:
    raise ImportError(f"{_library._name} has librnnkit ABI {_library_abi}, but this rnnkit package ({__version__}) "
                      f"needs ABI {ABI_VERSION}: install the library of the same release (or set RNNKIT_LIBRARY)")

_size = ctypes.c_size_t
_strings = ctypes.POINTER(ctypes.c_char_p)
_LINE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_double,
                             ctypes.c_char_p)


class _Callbacks(ctypes.Structure):
    _fields_ = [("line", _LINE), ("progress", _PROGRESS), ("result", _LINE), ("context", ctypes.c_void_p),
                ("stop", ctypes.POINTER(ctypes.c_int32))]


class _Source(ctypes.Structure):
    _fields_ = [("split", ctypes.c_char_p), ("texts", _strings), ("text_lengths", ctypes.POINTER(_size)),
                ("labels", _strings), ("label_lengths", ctypes.POINTER(_size)), ("count", _size),
                ("path", ctypes.c_char_p), ("format", ctypes.c_char_p), ("text_columns", _strings),
                ("text_column_count", _size), ("label_column", ctypes.c_char_p), ("delimiter", ctypes.c_char_p)]


for _name, _arguments, _result in [
    ("rnnkit_version", [], ctypes.c_char_p),
    ("rnnkit_last_error", [], ctypes.c_char_p),
    ("rnnkit_prepare", [ctypes.POINTER(_Source), _size, _strings, _size, ctypes.POINTER(_Callbacks)], ctypes.c_int),
    ("rnnkit_train", [_strings, _size, ctypes.POINTER(_Callbacks)], ctypes.c_int),
    ("rnnkit_evaluate", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _size, ctypes.POINTER(_Callbacks)],
     ctypes.c_int),
    ("rnnkit_sweep", [_strings, _size, ctypes.POINTER(_Callbacks)], ctypes.c_int),
]:
    getattr(_library, _name).argtypes = _arguments
    getattr(_library, _name).restype = _result


def _check(status, message=None):
    """Raises the error of a failed call; `message`: the last error, read on the thread that made the call."""
    if status != 0:
        if message is None:
            message = _library.rnnkit_last_error().decode("utf-8", "replace")
        raise _STATUS_ERRORS.get(status, RnnkitError)(status, message)


def _argv(arguments):
    encoded = [os.fsencode(a) if isinstance(a, (str, os.PathLike)) else a for a in arguments]
    return (ctypes.c_char_p * max(len(encoded), 1))(*encoded), len(encoded)


# ---------------------------------------------------------------------------------------------------------------
# Data


def _is_missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (type(value).__module__.startswith("pandas") and type(value).__name__ in ("NAType", "NaTType"))


def _cell(value) -> bytes:
    """A value as a CSV file written by pandas would hold it: missing values empty, anything else as str()."""
    if _is_missing(value):
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


class Dataset:
    """Labeled texts: rows held in memory (from_pandas, from_records, from_hf) or a file read by rnnkit's own
    readers when it is prepared (from_csv, from_parquet, from_jsonl), exactly as `prep` reads it.

    Nothing is tokenized until training or evaluation: the vocabulary is the training split's, so a Dataset
    becomes shards (in a temporary directory) when `train` or `Model.evaluate` prepares it. Texts that are
    missing (None, NaN) are empty, other values are str()'d, as in a CSV written by pandas; labels likewise, and a
    missing label is an error. Labels are numbered as `prep csv` numbers them: numeric order when all are
    integers, else sorted."""

    def __init__(self, texts: Sequence = (), labels: Sequence = (), *, path=None, format=None, text=None,
                 label=None, delimiter=None):
        if path is None:
            texts, labels = list(texts), list(labels)
            if len(texts) != len(labels):
                raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
            self._texts = [_cell(t) for t in texts]
            self._labels = [_cell(l) for l in labels]
        else:
            self._texts = self._labels = None
            columns = [text] if isinstance(text, str) else list(text or [])
            if not columns or label is None:
                raise ValueError("a file dataset needs text= (a column or a list of columns) and label=")
            self._file = (os.fspath(path), format, columns, label, delimiter)
            if not os.path.exists(self._file[0]):
                raise FileNotFoundError(f"{self._file[0]}: not found")

    @classmethod
    def from_records(cls, records: Iterable[Tuple[Any, Any]]) -> "Dataset":
        """From (text, label) pairs."""
        texts, labels = [], []
        for text, label in records:
            texts.append(text)
            labels.append(label)
        return cls(texts, labels)

    @classmethod
    def from_pandas(cls, frame, text: Union[str, Sequence[str]] = "text", label: str = "label") -> "Dataset":
        """From a DataFrame's columns; several text columns are joined with a space (as `prep csv` joins them)."""
        columns = [text] if isinstance(text, str) else list(text)
        for column in columns + [label]:
            if column not in frame.columns:
                raise KeyError(f"no column {column!r} (the frame has {', '.join(map(str, frame.columns))})")
        parts = [[_cell(v) for v in frame[c].tolist()] for c in columns]
        return cls._joined(parts, frame[label].tolist())

    @classmethod
    def from_hf(cls, dataset, text: Union[str, Sequence[str]] = "text", label: str = "label") -> "Dataset":
        """From a Hugging Face `datasets.Dataset`; a ClassLabel column gives its names, as `prep parquet` does."""
        columns = [text] if isinstance(text, str) else list(text)
        for column in columns + [label]:
            if column not in dataset.column_names:
                raise KeyError(f"no column {column!r} (the dataset has {', '.join(dataset.column_names)})")
        labels = dataset[label]
        feature = dataset.features[label]
        if hasattr(feature, "int2str"):
            labels = [None if _is_missing(v) else feature.int2str(v) for v in labels]
        return cls._joined([[_cell(v) for v in dataset[c]] for c in columns], labels)

    @classmethod
    def _joined(cls, parts, labels):
        dataset = cls((), ())
        dataset._texts = [b" ".join(row) for row in zip(*parts)]
        dataset._labels = [_cell(l) for l in labels]
        return dataset

    @classmethod
    def from_csv(cls, path, text: Union[str, Sequence[str]] = "text", label: str = "label",
                 delimiter: Optional[str] = None) -> "Dataset":
        """A CSV or TSV file (gzip or zstd too), read as `prep csv` reads it."""
        return cls(path=path, format="csv", text=text, label=label, delimiter=delimiter)

    @classmethod
    def from_parquet(cls, path, text: Union[str, Sequence[str]] = "text", label: str = "label") -> "Dataset":
        """A Parquet file, read as `prep parquet` reads it."""
        return cls(path=path, format="parquet", text=text, label=label)

    @classmethod
    def from_jsonl(cls, path, text: Union[str, Sequence[str]] = "text", label: str = "label") -> "Dataset":
        """JSON lines (dotted paths into nested objects), read as `prep jsonl` reads them."""
        return cls(path=path, format="jsonl", text=text, label=label)

    def __len__(self):
        if self._texts is None:
            raise TypeError("a file dataset's length is known once it is prepared")
        return len(self._texts)

    def _source(self, split, keep):
        """This dataset as a C source of `split`; `keep` holds the buffers for the call's duration."""
        source = _Source(split=split.encode())
        if self._texts is None:
            path, format, columns, label, delimiter = self._file
            names = (ctypes.c_char_p * len(columns))(*[c.encode() for c in columns])
            keep.append(names)
            source.path, source.format = os.fsencode(path), format.encode()
            source.text_columns, source.text_column_count = names, len(columns)
            source.label_column = label.encode()
            source.delimiter = delimiter.encode() if delimiter else None
            return source
        n = len(self._texts)
        texts = (ctypes.c_char_p * max(n, 1))(*self._texts)
        text_lengths = (_size * max(n, 1))(*map(len, self._texts))
        labels = (ctypes.c_char_p * max(n, 1))(*self._labels)
        label_lengths = (_size * max(n, 1))(*map(len, self._labels))
        keep.extend([texts, text_lengths, labels, label_lengths])
        source.texts, source.text_lengths, source.labels, source.label_lengths = texts, text_lengths, labels, \
            label_lengths
        source.count = n
        return source


def _prepare(parts, arguments, callbacks=None):
    """Runs librnnkit's prep on (dataset, split) parts."""
    keep = []
    sources = (_Source * len(parts))(*[dataset._source(split, keep) for dataset, split in parts])
    argv, argc = _argv(arguments)
    _check(_library.rnnkit_prepare(sources, len(parts), argv, argc, callbacks))


# ---------------------------------------------------------------------------------------------------------------
# Settings

_HERE = pathlib.Path(__file__).resolve().parent


def recipes() -> List[str]:
    """The names of the recipes this package ships."""
    return sorted(p.stem for p in (_HERE / "recipes").glob("*.json"))


def _recipe_argument(recipe, work):
    """A recipe name, path or dict as a --recipe argument (a dict is written into the run's directory). librnnkit
    finds a name among the recipes beside it, as the tools find theirs."""
    if isinstance(recipe, dict):
        path = pathlib.Path(work) / "recipe.json"
        path.write_text(json.dumps(recipe, indent=2))
        return str(path)
    return os.fspath(recipe)


# Keywords → prep flags. Recipe field names (snake_case) and the tools' flag names both work.
_PREP_FLAGS = {"vocabulary_size": "--vocab-size", "vocab_size": "--vocab-size", "minimum_count": "--min-freq",
               "min_freq": "--min-freq", "memory": "--memory", "shard_size": "--shard-size"}
# Keywords → train flags.
_TRAIN_FLAGS = {
    "cell": "--cell", "embedding": "--embed", "embed": "--embed", "hidden": "--hidden", "layers": "--layers",
    "bidirectional": "--bidirectional", "dropout": "--dropout", "initialization": "--initialization",
    "pooling": "--pooling", "pretrained_vectors": "--pretrained-vectors",
    "freeze_embedding": "--freeze-embedding", "class_weights": "--class-weights", "loss": "--loss",
    "distill_temperature": "--distill-temperature", "hard_label_weight": "--hard-label-weight",
    "max_length": "--max-len", "max_len": "--max-len", "padding": "--padding", "truncation": "--truncate",
    "truncate": "--truncate", "start_token": "--start-token", "optimizer": "--optimizer", "name": "--optimizer",
    "learning_rate": "--lr", "lr": "--lr", "momentum": "--momentum", "weight_decay": "--weight-decay",
    "schedule": "--schedule", "warmup_steps": "--warmup", "warmup": "--warmup", "clip_norm": "--clip",
    "clip": "--clip", "epochs": "--epochs", "batch_size": "--batch-size", "seed": "--seed", "threads": "--threads",
    "window": "--window", "early_stopping": "--early-stopping", "select": "--select", "train_limit": "--train-limit",
}


def _flag(flag, value):
    if flag in ("--bidirectional", "--freeze-embedding"):
        return [flag if value else flag.replace("--", "--no-", 1)]
    if flag == "--start-token":
        return [flag, "on" if value in (True, "on") else "off"]
    return [flag, str(value)]


def _tokenizer_flags(tokenizer):
    if tokenizer is None:
        return []
    if tokenizer in ("word", "wordpiece"):
        return ["--tokenizer", tokenizer]
    path = os.fspath(tokenizer)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: not found (tokenizer= takes \"word\", \"wordpiece\", or a path to a "
                                "tokenizer.json or vocab.txt)")
    return ["--tokenizer-file" if path.endswith(".json") else "--vocab-file", path]


def _settings(settings):
    prep, fit = [], []
    for key, value in settings.items():
        if value is None:
            continue
        if key in _PREP_FLAGS:
            prep += _flag(_PREP_FLAGS[key], value)
        elif key in _TRAIN_FLAGS:
            fit += _flag(_TRAIN_FLAGS[key], value)
        else:
            known = sorted(set(_PREP_FLAGS) | set(_TRAIN_FLAGS) | {"tokenizer", "validation", "recipe"})
            raise InvalidArgumentError(1, f"unknown setting {key!r} (expected one of {', '.join(known)})")
    return prep, fit


# ---------------------------------------------------------------------------------------------------------------
# Training


class _Display:
    """A run's progress: a tqdm bar per epoch when tqdm is installed, else a line per epoch; nothing when off."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.bar = None
        self.title = None
        try:
            import tqdm.auto as tqdm  # noqa: F401 — optional
            self.tqdm = tqdm.tqdm if enabled else None
        except ImportError:
            self.tqdm = None

    def line(self, text):
        if not self.enabled:
            return
        # The epoch lines and the final figures; the configuration and the per-class tables stay in the history.
        if not text.startswith(("epoch ", "selected epoch", "early stopping", "test (", "resuming", "sweep ")):
            return
        self.close()
        print(text, file=sys.stderr, flush=True)

    @property
    def draws_bars(self):
        return self.enabled and self.tqdm is not None

    def progress(self, title, done, total, detail):
        if self.bar is None or title != self.title:
            self.close()
            self.bar = self.tqdm(total=int(total), desc=title, unit="ex", leave=False)
            self.title = title
        self.bar.set_postfix_str(detail, refresh=False)
        self.bar.update(int(done) - self.bar.n)  # redrawn at tqdm's own pace, not every batch

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _run_interruptibly(function, arguments, display, work):
    """Runs a librnnkit call on a thread of its own (the GIL is released meanwhile), so that Ctrl-C reaches Python:
    it sets the stop flag the trainer reads before each batch, and the call's interruption is re-raised here.
    Returns the call's result text, if it gave one."""
    stop = ctypes.c_int32(0)
    results = []
    line = _LINE(lambda _, text: display.line(text.decode("utf-8", "replace")))
    # A per-batch callback takes the GIL; without a bar to draw there is none, and training never waits for a
    # busy Python thread.
    progress = _PROGRESS(lambda _, title, done, total, detail: display.progress(
        title.decode(), done, total, detail.decode("utf-8", "replace"))) if display.draws_bars else _PROGRESS()
    receive = _LINE(lambda _, text: results.append(text.decode()))
    callbacks = _Callbacks(line=line, progress=progress, result=receive, stop=ctypes.pointer(stop))
    argv, argc = _argv(arguments)
    outcome = {}
    finished = threading.Event()

    def run():
        # Ctrl-C must reach the main thread: here it would interrupt the trainer's writes (EINTR).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        outcome["status"] = function(argv, argc, ctypes.byref(callbacks))
        outcome["message"] = _library.rnnkit_last_error().decode("utf-8", "replace")
        finished.set()

    thread = threading.Thread(target=run, name="rnnkit-train", daemon=True)
    thread.start()
    interrupted = False
    while True:
        # The whole wait is in the try: Ctrl-C may land on any of its bytecodes. An Event, not join(): a join
        # interrupted by Ctrl-C can mark a running thread as ended (CPython before 3.13).
        try:
            if finished.wait(0.1):
                break
        except KeyboardInterrupt:
            stop.value = 1
            interrupted = True
    display.close()
    status = outcome.get("status", _INTERRUPTED)
    if status == _INTERRUPTED or (interrupted and status == 0):
        raise KeyboardInterrupt(f"training stopped; the last finished epoch's checkpoint is in {work}: "
                                f"{'rnnkit.train(..., resume=' + repr(str(work)) + ')' if work else 'running it again'}"
                                " continues from it")
    _check(status, outcome.get("message"))
    return results[0] if results else None


def train(train: Dataset, validation: Union[float, Dataset, None] = 0.1, recipe: Union[str, os.PathLike, dict] = "csv",
          *, tokenizer=None, out=None, resume=None, progress: bool = True, **settings) -> "Model":
    """Prepares `train` (and a validation Dataset) and trains a classifier, in this process.

    validation: a fraction of train held out (stratified, seeded), or a Dataset; 0 or None with a recipe whose
    epochs are scored on a test split only is an error (there is none here). recipe: a shipped name (see
    `recipes()`), a path, or a dict in the recipe format. tokenizer: "word", "wordpiece", or a path to a
    tokenizer.json or vocab.txt. Any recipe field or `train` flag is a keyword (hidden=128, epochs=5, lr=1e-3,
    max_length=256, vocab_size=20000, threads=2, …). out: the run's directory (default: a new temporary one);
    resume: the directory of a run stopped by Ctrl-C, continued from its last finished epoch.
    """
    if not isinstance(train, Dataset):
        raise TypeError("train must be an rnnkit.Dataset (Dataset.from_pandas, from_csv, from_records, …)")
    temporary = resume is None and out is None
    work = pathlib.Path(resume if resume is not None else (out or tempfile.mkdtemp(prefix="rnnkit-")))
    if resume is not None and not (work / "run" / "checkpoint.rnnk").exists():
        raise FileNotFoundError(f"{work}: no checkpoint to resume from (expected {work / 'run' / 'checkpoint.rnnk'})")
    work.mkdir(parents=True, exist_ok=True)
    prep_flags, fit_flags = _settings(settings)
    recipe_argument = _recipe_argument(recipe, work)
    parts = [(train, "train")]
    if isinstance(validation, Dataset):
        parts.append((validation, "validation"))
    elif validation is None or isinstance(validation, (int, float)):
        fit_flags += ["--validation", str(float(validation or 0))]
    else:
        raise TypeError("validation must be a fraction or an rnnkit.Dataset")
    shards = work / "dataset"
    _prepare(parts, ["--out", str(shards), "--force", "--quiet", "--recipe", recipe_argument]
             + _tokenizer_flags(tokenizer) + prep_flags)
    arguments = ["--shards", str(shards), "--out", str(work / "run"), "--recipe", recipe_argument]
    if resume is not None:
        arguments.append("--resume")
    display = _Display(progress)
    _run_interruptibly(_library.rnnkit_train, arguments + fit_flags, display, work)
    model = Model(work / "run" / "model.rnnk")
    if temporary:
        # The model's files live as long as it does; the shards are not needed any more.
        shutil.rmtree(shards, ignore_errors=True)
        weakref.finalize(model, shutil.rmtree, work, True)
    return model


def sweep(file: Union[str, os.PathLike], *, out=None, threads: Optional[int] = None, report_only: bool = False,
          progress: bool = True) -> List[Dict[str, Any]]:
    """Runs a sweep file's runs as `train sweep` does (prep in this process; finished runs are skipped, an
    interrupted one resumes) and writes report.md and report.html to `out` (default runs/<sweep name>). Returns the
    report's table of configurations as records: configuration, runs, validation_accuracy, validation_macro_f1,
    test_accuracy, test_macro_f1, best_epoch, train_accuracy, seconds_per_epoch (means over seeds; None where
    nothing measured it) and each one's *_deviation (sample standard deviation; None below two seeds)."""
    arguments = [os.fspath(file)]
    if out is not None:
        arguments += ["--out", os.fspath(out)]
    if threads is not None:
        arguments += ["--threads", str(threads)]
    if report_only:
        arguments.append("--report-only")
    display = _Display(progress)
    return json.loads(_run_interruptibly(_library.rnnkit_sweep, arguments, display, None))


# ---------------------------------------------------------------------------------------------------------------
# Models


class Model:
    """A trained classifier: a model file (the CLI's format), classified through librnninfer."""

    def __init__(self, path: Union[str, os.PathLike], *, threads: Optional[int] = None):
        self.path = pathlib.Path(path)
        self._runtime = rnninfer.Model(self.path, threads=threads or os.cpu_count() or 1)
        self.classes_: List[str] = list(self._runtime.labels)
        metrics = self.path.parent / "metrics.jsonl"
        self.history: List[Dict[str, Any]] = []
        if metrics.exists():
            self.history = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]

    def __repr__(self):
        return f"rnnkit.Model({str(self.path)!r}, classes={self.classes_})"

    @staticmethod
    def _texts(texts):
        if isinstance(texts, (str, bytes)):
            raise TypeError("pass a list of texts (model.predict([text]))")
        return [t if isinstance(t, (str, bytes)) else _cell(t).decode("utf-8", "surrogatepass") for t in texts]

    def predict_proba(self, texts: Sequence[str]) -> _numpy.ndarray:
        """Probabilities, (n, classes) float32, columns in `classes_` order."""
        texts = self._texts(texts)
        if not texts:
            return _numpy.zeros((0, len(self.classes_)), dtype=_numpy.float32)
        return self._runtime.classify_batch(texts)

    def predict(self, texts: Sequence[str]) -> List[str]:
        """The most probable label of each text."""
        probabilities = self.predict_proba(texts)
        return [self.classes_[i] for i in probabilities.argmax(axis=1)] if len(probabilities) else []

    def explain(self, text: str, label: Union[str, int, None] = None) -> List[Tuple[str, int, int, float]]:
        """For each token the model reads: (its text, start, end, score) for `label` (default: the predicted one);
        positive scores push towards it (gradient × input on the embedding)."""
        return [(token, start, end, score) for token, (start, end), score in self._runtime.explain(text, label)]

    def evaluate(self, dataset: Dataset, *, threads: int = 0) -> Dict[str, Any]:
        """Figures on a labeled Dataset, tokenized with this model's tokenizer: accuracy, macro_f1, loss, examples,
        per_class (label, precision, recall, f1, support) and confusion[true][predicted]."""
        with tempfile.TemporaryDirectory(prefix="rnnkit-eval-") as scratch:
            shards = pathlib.Path(scratch) / "dataset"
            _prepare([(dataset, "test")], ["--out", str(shards), "--quiet", "--tokenizer-from", str(self.path)])
            result = []
            receive = _LINE(lambda _, text: result.append(text))
            callbacks = _Callbacks(result=receive)
            _check(_library.rnnkit_evaluate(os.fsencode(self.path), os.fsencode(str(shards)), b"test", threads,
                                            ctypes.byref(callbacks)))
        return json.loads(result[0])

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the model file (atomically: a temporary name, then renamed)."""
        path = pathlib.Path(path)
        partial = path.with_name(path.name + ".partial")
        shutil.copyfile(self.path, partial)
        os.replace(partial, path)

    def __reduce__(self):
        return _restore, (self.path.read_bytes(), self.history)


def _restore(data, history):
    folder = tempfile.mkdtemp(prefix="rnnkit-")
    path = pathlib.Path(folder) / "model.rnnk"
    path.write_bytes(data)
    model = Model(path)
    model.history = history
    weakref.finalize(model, shutil.rmtree, folder, True)
    return model


def load(path: Union[str, os.PathLike]) -> Model:
    """A model file written by `train`, `rnnkit.train` or `Model.save`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: not found")
    return Model(path)
