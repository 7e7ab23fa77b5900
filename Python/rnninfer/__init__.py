"""ctypes binding for librnninfer: classify text with an rnnkit model file.

    from rnninfer import Model
    with Model("runs/imdb/model.rnnk") as model:
        label, probabilities = model.classify("A wonderful film.")
        print(model.labels[label], probabilities)

The library is found through $RNNINFER_LIBRARY, else the copy installed with this
package (the wheel carries it), else dist/lib/librnninfer.so of the checkout this file is in
(Tools/build-runtime), else the system's library path. Importing checks that the library
speaks this package's ABI (RNN_ABI_VERSION in rnninfer.h) and refuses any other.

Errors are exceptions a Python program expects: FileNotFoundError for a missing model file,
ValueError (InvalidArgumentError) for a bad argument or label name, FormatError for a file that is
not a readable model, all of them RNNInferError but FileNotFoundError.
"""
import ctypes
import errno
import os
import pathlib
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as _numpy

__all__ = ["Model", "Stream", "RNNInferError", "InvalidArgumentError", "ReadError", "FormatError",
           "FormatVersionError", "UnsupportedError", "library", "library_path", "library_version", "abi_version",
           "ABI_VERSION", "__version__"]
__version__ = "0.2.0"
# The ABI this binding is written for (RNN_ABI_VERSION in rnninfer.h); the loaded library must have it.
ABI_VERSION = 3

Text = Union[str, bytes]


class RNNInferError(Exception):
    """A failed librnninfer call: `status` is the rnn_status code, `message` the library's message."""

    def __init__(self, status, message):
        super().__init__(f"{message} ({_status_name(status)} {status})")
        self.status = status
        self.message = message


class InvalidArgumentError(RNNInferError, ValueError):
    """An argument the library refused (status 1): a bad index, label, id, count or option."""


class ReadError(RNNInferError, OSError):
    """The model file exists but cannot be read (status 2)."""


class FormatError(RNNInferError):
    """Not a model file, truncated or corrupt (status 3)."""


class FormatVersionError(FormatError):
    """A model file of a major format version this library does not read (status 4)."""


class UnsupportedError(RNNInferError):
    """The model or this CPU cannot do what was asked (status 6): a stream of a padded model, a kernel set
    the CPU lacks."""


_ERRORS = {1: InvalidArgumentError, 2: ReadError, 3: FormatError, 4: FormatVersionError, 6: UnsupportedError}


class _Info(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t)] + [(name, ctypes.c_uint32) for name in (
        "format_major", "format_minor", "cell", "layers", "bidirectional", "embedding",
        "hidden", "vocabulary_size", "labels", "tokenizer", "max_length", "threads")] + [
        ("kernels", ctypes.c_char * 16), ("multi_label", ctypes.c_uint32), ("threshold", ctypes.c_float)]


class _LoadOptions(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("kernels", ctypes.c_char_p), ("threads", ctypes.c_uint32)]


class _TokenScore(ctypes.Structure):
    _fields_ = [("start", ctypes.c_size_t), ("end", ctypes.c_size_t), ("id", ctypes.c_int32),
                ("score", ctypes.c_float)]


def _load_library():
    here = pathlib.Path(__file__).resolve().parent
    candidates = [os.environ.get("RNNINFER_LIBRARY"), here / "librnninfer.so",
                  here.parents[1] / "dist" / "lib" / "librnninfer.so", f"librnninfer.so.{ABI_VERSION}"]
    errors = []
    for candidate in filter(None, candidates):
        if isinstance(candidate, pathlib.Path) and not candidate.exists():
            continue
        try:
            return ctypes.CDLL(str(candidate))
        except OSError as error:
            errors.append(f"{candidate}: {error}")
    raise ImportError("librnninfer not found (install the rnninfer wheel, run Tools/build-runtime, or set "
                      "RNNINFER_LIBRARY): " + "; ".join(errors))


library = _load_library()
library_path = library._name
try:
    library.rnn_abi_version.restype = ctypes.c_uint32
    _library_abi = library.rnn_abi_version()
except AttributeError:
    raise ImportError(f"{library_path} is not librnninfer (it has no rnn_abi_version)") from None
if _library_abi != ABI_VERSION:
    raise ImportError(
        f"{library_path} has librnninfer ABI {_library_abi}, but this rnninfer package ({__version__}) needs ABI "
        f"{ABI_VERSION}: install the library of the same release (or point RNNINFER_LIBRARY at it)")

_model_p = ctypes.c_void_p
_size = ctypes.c_size_t
_floats = ctypes.POINTER(ctypes.c_float)
_int32s = ctypes.POINTER(ctypes.c_int32)
_signatures = {
    "rnn_library_version": ([], ctypes.c_char_p),
    "rnn_supported_format": ([ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)], None),
    "rnn_status_string": ([ctypes.c_int], ctypes.c_char_p),
    "rnn_last_error": ([], ctypes.c_char_p),
    "rnn_model_load_with_options": ([ctypes.c_char_p, ctypes.POINTER(_LoadOptions), ctypes.POINTER(_model_p)],
                                    ctypes.c_int),
    "rnn_model_load_buffer_with_options": ([ctypes.c_void_p, _size, ctypes.POINTER(_LoadOptions),
                                            ctypes.POINTER(_model_p)], ctypes.c_int),
    "rnn_model_free": ([_model_p], None),
    "rnn_model_get_info": ([_model_p, ctypes.POINTER(_Info)], ctypes.c_int),
    "rnn_model_label_count": ([_model_p], _size),
    "rnn_model_label": ([_model_p, ctypes.c_int32, ctypes.c_char_p, _size, ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_model_metadata": ([_model_p, ctypes.c_char_p, ctypes.c_char_p, _size, ctypes.POINTER(_size)],
                           ctypes.c_int),
    "rnn_model_metadata_count": ([_model_p], _size),
    "rnn_model_metadata_key": ([_model_p, _size, ctypes.c_char_p, _size, ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_classify": ([_model_p, ctypes.c_char_p, _size, _floats, _size, _int32s], ctypes.c_int),
    "rnn_classify_batch": ([_model_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_size), _size, _floats, _size,
                            _int32s], ctypes.c_int),
    "rnn_logits_batch": ([_model_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_size), _size, _floats, _size],
                         ctypes.c_int),
    "rnn_classify_ids": ([_model_p, _int32s, _size, _floats, _size, _int32s], ctypes.c_int),
    "rnn_top_k": ([_model_p, ctypes.c_char_p, _size, _size, _int32s, _floats], ctypes.c_int),
    "rnn_tokenize": ([_model_p, ctypes.c_char_p, _size, _int32s, _size, ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_explain": ([_model_p, ctypes.c_char_p, _size, ctypes.c_int32, ctypes.POINTER(_TokenScore), _size,
                     ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_stream_open": ([_model_p, ctypes.POINTER(_model_p)], ctypes.c_int),
    "rnn_stream_feed": ([_model_p, ctypes.c_char_p, _size], ctypes.c_int),
    "rnn_stream_probabilities": ([_model_p, _floats, _size, _int32s], ctypes.c_int),
    "rnn_stream_reset": ([_model_p], ctypes.c_int),
    "rnn_stream_free": ([_model_p], None),
}
for _name, (_arguments, _result) in _signatures.items():
    _function = getattr(library, _name)
    _function.argtypes = _arguments
    _function.restype = _result


def _status_name(status):
    return library.rnn_status_string(status).decode()


def _check(status):
    if status != 0:
        message = library.rnn_last_error()
        message = message.decode("utf-8", "replace") if message else "librnninfer error"
        raise _ERRORS.get(status, RNNInferError)(status, message)


def _utf8(text):
    if isinstance(text, bytes):
        return text
    if isinstance(text, str):
        return text.encode("utf-8")
    raise TypeError(f"a text must be str or bytes, not {type(text).__name__}")


def abi_version() -> int:
    return _library_abi


def library_version() -> str:
    return library.rnn_library_version().decode()


def _sized_text(query):
    """A string the library copies NUL-terminated: asked for its size first (NULL, 0), then copied."""
    length = _size()
    _check(query(None, 0, ctypes.byref(length)))
    buffer = ctypes.create_string_buffer(length.value + 1)
    _check(query(buffer, length.value + 1, ctypes.byref(length)))
    return buffer.raw[:length.value].decode("utf-8", "replace")


class _Handle:
    """A library object shared by threads. Each call holds a lease on the handle; close() (or leaving `with`, or
    garbage collection) frees it once the calls in flight are over, and refuses new ones."""

    def _setup(self):
        self._handle = None
        self._lock = threading.Lock()
        self._calls = 0
        self._closing = False

    def _free(self, handle):
        raise NotImplementedError

    def _enter(self):
        with self._lock:
            if self._closing or not self._handle:
                raise ValueError(f"the {type(self).__name__.lower()} is closed")
            self._calls += 1
            return self._handle

    def _leave(self):
        with self._lock:
            self._calls -= 1
            handle = self._release_if_idle()
        if handle:
            self._free(handle)

    def _release_if_idle(self):
        if self._closing and self._calls == 0 and self._handle:
            handle, self._handle = self._handle, None
            return handle
        return None

    def _call(self, function, *arguments):
        handle = self._enter()
        try:
            return function(handle, *arguments)
        finally:
            self._leave()

    def close(self):
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            self._closing = True
            handle = self._release_if_idle()
        if handle:
            self._free(handle)

    @property
    def closed(self) -> bool:
        return self._closing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _restore(path, data, kernels, threads):
    return Model(path, data=data, kernels=kernels, threads=threads)


class Model(_Handle):
    """A loaded model. Safe to share between threads; close() (or `with`) frees it once no call is in flight.

    kernels: "baseline", "avx2", "avx512" or "avx512-vnni" on x86-64, "baseline", "neon" or "neon-dot" on aarch64
    (default: $RNNKIT_KERNELS, else the widest the CPU has); threads: the most threads one batch call uses (default 1, the caller's). A Model pickles as its path
    (or, loaded from bytes, as its bytes) with these options, so joblib and multiprocessing can send it."""

    def _free(self, handle):
        library.rnn_model_free(handle)

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, *, data: Optional[bytes] = None,
                 kernels: Optional[str] = None, threads: int = 1):
        self._setup()
        if (path is None) == (data is None):
            raise ValueError("give a path or data=bytes")
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, not {threads!r}")
        self._path = os.fspath(path) if path is not None else None
        self._data = bytes(data) if data is not None else None
        self._kernels = kernels
        self._threads = threads
        options = _LoadOptions(ctypes.sizeof(_LoadOptions), kernels.encode() if kernels else None, threads)
        handle = _model_p()
        if path is not None:
            if not os.path.exists(self._path):
                raise FileNotFoundError(errno.ENOENT, "model file not found", self._path)
            _check(library.rnn_model_load_with_options(os.fsencode(self._path), ctypes.byref(options),
                                                        ctypes.byref(handle)))
        else:
            buffer = ctypes.create_string_buffer(self._data, len(self._data))
            _check(library.rnn_model_load_buffer_with_options(buffer, len(self._data), ctypes.byref(options),
                                                               ctypes.byref(handle)))
        self._handle = handle.value
        info = _Info(size=ctypes.sizeof(_Info))
        _check(library.rnn_model_get_info(self._handle, ctypes.byref(info)))
        self.labels: List[str] = [
            _sized_text(lambda buffer, capacity, length, i=i: library.rnn_model_label(self._handle, i, buffer,
                                                                                      capacity, length))
            for i in range(library.rnn_model_label_count(self._handle))]
        sequence = {key: self._file_value(f"sequence.{key}") for key in ("padding", "truncation", "markers")}
        self.metadata: Dict[str, object] = {
            "format_version": f"{info.format_major}.{info.format_minor}",
            "cell": ("rnn", "lstm", "gru")[info.cell], "layers": info.layers,
            "bidirectional": bool(info.bidirectional), "embedding": info.embedding, "hidden": info.hidden,
            "vocabulary_size": info.vocabulary_size, "tokenizer": ("word", "wordpiece")[info.tokenizer],
            "max_length": info.max_length or None, "padding": sequence["padding"],
            "truncation": sequence["truncation"], "markers": sequence["markers"] == "true",
            "kernels": info.kernels.decode(), "threads": info.threads,
            # A multi-label model's probabilities are each label's own; its labels are those >= threshold.
            "multi_label": bool(info.multi_label), "threshold": info.threshold if info.multi_label else None,
        }
        self._file_metadata = None

    def _file_value(self, key):
        return _sized_text(lambda buffer, capacity, length: library.rnn_model_metadata(
            self._handle, key.encode(), buffer, capacity, length))

    @property
    def file_metadata(self) -> Dict[str, str]:
        """Every metadata entry of the model file (Artifacts/model-format.md) as text, in file order: the
        training recipe, configuration, metrics and tool among them."""
        if self._file_metadata is None:
            def read(handle):
                keys = [_sized_text(lambda buffer, capacity, length, i=i: library.rnn_model_metadata_key(
                    handle, i, buffer, capacity, length)) for i in range(library.rnn_model_metadata_count(handle))]
                return {key: _sized_text(lambda buffer, capacity, length, key=key: library.rnn_model_metadata(
                    handle, key.encode(), buffer, capacity, length)) for key in keys}
            self._file_metadata = self._call(read)
        return self._file_metadata

    def __reduce__(self):
        return _restore, (self._path, self._data, self._kernels, self._threads)

    def _label_index(self, label):
        if isinstance(label, str):
            if label not in self.labels:
                raise ValueError(f"unknown label {label!r} (the model's labels: {', '.join(self.labels)})")
            return self.labels.index(label)
        if not isinstance(label, int) or not 0 <= label < len(self.labels):
            raise ValueError(f"label {label!r} is out of range (expected 0…{len(self.labels) - 1} or a label name)")
        return label

    def classify(self, text: Text) -> Tuple[int, _numpy.ndarray]:
        """(best label index, probability per label)"""
        data = _utf8(text)
        probabilities = _numpy.zeros(len(self.labels), dtype=_numpy.float32)
        best = ctypes.c_int32()
        self._call(lambda handle: _check(library.rnn_classify(
            handle, data, len(data), probabilities.ctypes.data_as(_floats), len(self.labels), ctypes.byref(best))))
        return best.value, probabilities

    def _batch(self, texts):
        data = [_utf8(t) for t in texts]
        count = len(data)
        pointers = (ctypes.c_char_p * max(count, 1))(*data)
        lengths = (_size * max(count, 1))(*map(len, data))
        return count, pointers, lengths

    def classify_batch(self, texts: Sequence[Text]) -> _numpy.ndarray:
        """The probabilities of each text: an (n, labels) float32 array, a row per text (argmax(axis=1) gives
        the labels)."""
        count, pointers, lengths = self._batch(texts)
        probabilities = _numpy.zeros((count, len(self.labels)), dtype=_numpy.float32)
        self._call(lambda handle: _check(library.rnn_classify_batch(
            handle, pointers, lengths, count, probabilities.ctypes.data_as(_floats), probabilities.size, None)))
        return probabilities

    def logits(self, texts: Union[Text, Sequence[Text]]) -> _numpy.ndarray:
        """The head's outputs before the softmax: a (labels,) array for one text, (n, labels) for a list."""
        single = isinstance(texts, (str, bytes))
        count, pointers, lengths = self._batch([texts] if single else texts)
        logits = _numpy.zeros((count, len(self.labels)), dtype=_numpy.float32)
        self._call(lambda handle: _check(library.rnn_logits_batch(
            handle, pointers, lengths, count, logits.ctypes.data_as(_floats), logits.size)))
        return logits[0] if single else logits

    def classify_ids(self, ids: Sequence[int]) -> Tuple[int, _numpy.ndarray]:
        """As classify, for the ids the model reads (what tokenize gives; the ONNX export's input)."""
        array = _numpy.ascontiguousarray(ids, dtype=_numpy.int32)
        probabilities = _numpy.zeros(len(self.labels), dtype=_numpy.float32)
        best = ctypes.c_int32()
        self._call(lambda handle: _check(library.rnn_classify_ids(
            handle, array.ctypes.data_as(_int32s), array.size, probabilities.ctypes.data_as(_floats),
            len(self.labels), ctypes.byref(best))))
        return best.value, probabilities

    def top_k(self, text: Text, k: int) -> List[Tuple[int, float]]:
        """[(label index, probability)], most likely first."""
        data = _utf8(text)
        if not isinstance(k, int) or not 1 <= k <= len(self.labels):
            raise ValueError(f"k is {k!r} (expected 1…{len(self.labels)}, the model's label count)")
        labels = (ctypes.c_int32 * k)()
        probabilities = (ctypes.c_float * k)()
        self._call(lambda handle: _check(library.rnn_top_k(handle, data, len(data), k, labels, probabilities)))
        return list(zip(labels, probabilities))

    def tokenize(self, text: Text) -> List[int]:
        """The ids the model reads for `text`."""
        data = _utf8(text)

        def run(handle):
            count = _size()
            _check(library.rnn_tokenize(handle, data, len(data), None, 0, ctypes.byref(count)))
            ids = (ctypes.c_int32 * max(count.value, 1))()
            _check(library.rnn_tokenize(handle, data, len(data), ids, count.value, ctypes.byref(count)))
            return list(ids[:count.value])
        return self._call(run)

    def explain(self, text: Text, label: Union[int, str, None] = None) -> List[Tuple[Text, Tuple[int, int], float]]:
        """Why `text` gets `label` (an index or a name; default: the label it is classified as): for each token
        the model reads, in text order, (the token's part of the text, (start, end), score). Scores are
        gradient × input on the token's embedding for the label's log-probability: positive ones push towards
        it. Spans index `text`: characters of a str, bytes of bytes."""
        data = _utf8(text)
        label = self.classify(data)[0] if label is None else self._label_index(label)
        capacity = max(len(data), 1)  # never more tokens than bytes
        tokens = (_TokenScore * capacity)()
        count = _size()
        self._call(lambda handle: _check(library.rnn_explain(
            handle, data, len(data), label, tokens, capacity, ctypes.byref(count))))
        position = None
        if isinstance(text, str):
            position = [0] * (len(data) + 1)  # character index of each byte offset
            offset = 0
            for index, character in enumerate(text):
                position[offset] = index
                offset += len(character.encode("utf-8"))
            position[offset] = len(text)
        result = []
        for token in tokens[:count.value]:
            start, end = (token.start, token.end) if position is None else (position[token.start], position[token.end])
            result.append((text[start:end], (start, end), token.score))
        return result

    def stream(self) -> "Stream":
        """A stream over this model: feed a text in pieces, classify it at any point."""
        return Stream(self)


class Stream(_Handle):
    """A text classified while it arrives: feed() its pieces (str, or bytes cut anywhere, even inside a
    character); probabilities() equals Model.classify of everything fed so far, bit for bit. One thread at a
    time; many streams may share a model, and a stream keeps its model loaded. Raises UnsupportedError for
    models that cannot stream: bidirectional, padded, or truncating from the head."""

    def __init__(self, model: Model):
        self._setup()
        self.labels = model.labels
        handle = _model_p()
        model._call(lambda model_handle: _check(library.rnn_stream_open(model_handle, ctypes.byref(handle))))
        self._handle = handle.value

    def _free(self, handle):
        library.rnn_stream_free(handle)

    def feed(self, text: Text) -> "Stream":
        data = _utf8(text)
        self._call(lambda handle: _check(library.rnn_stream_feed(handle, data, len(data))))
        return self

    def probabilities(self) -> Tuple[int, _numpy.ndarray]:
        """(best label index, probability per label) of the text fed so far."""
        probabilities = _numpy.zeros(len(self.labels), dtype=_numpy.float32)
        best = ctypes.c_int32()
        self._call(lambda handle: _check(library.rnn_stream_probabilities(
            handle, probabilities.ctypes.data_as(_floats), len(self.labels), ctypes.byref(best))))
        return best.value, probabilities

    def reset(self) -> "Stream":
        self._call(lambda handle: _check(library.rnn_stream_reset(handle)))
        return self
