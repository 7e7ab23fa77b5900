"""ctypes binding for librnninfer.so: classify text with an rnnkit model file.

    from rnninfer import Model
    with Model("runs/imdb/model.rnnk") as model:
        label, probabilities = model.classify("A wonderful film.")
        print(model.labels[label], probabilities)

The library is found through $RNNINFER_LIBRARY, else the copy installed with this
package (`pip install Python/` after Tools/build-runtime), else dist/lib/librnninfer.so
of the checkout this file is in, else the system's library path.

Probabilities come back as numpy arrays when numpy is installed, as lists otherwise.
"""
import ctypes
import os
import pathlib
from typing import List, Optional, Sequence, Tuple, Union

try:
    import numpy as _numpy
except ImportError:
    _numpy = None

__all__ = ["Model", "Stream", "RNNInferError", "library", "library_path", "library_version", "__version__"]
__version__ = "0.1.0"

Text = Union[str, bytes]

_STATUS = {1: "invalid argument", 2: "I/O error", 3: "format error", 4: "unsupported version", 5: "buffer too small",
           6: "unsupported"}


class RNNInferError(Exception):
    """A failed librnninfer call: `status` is the rnn_status code."""

    def __init__(self, status, message):
        super().__init__(f"{message} ({_STATUS.get(status, 'error')} {status})")
        self.status = status


class _Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "format_major", "format_minor", "cell", "layers", "bidirectional", "embedding",
        "hidden", "vocabulary_size", "labels", "tokenizer", "max_length")]


class _TokenScore(ctypes.Structure):
    _fields_ = [("start", ctypes.c_size_t), ("end", ctypes.c_size_t), ("id", ctypes.c_int32),
                ("score", ctypes.c_float)]


def _load_library():
    here = pathlib.Path(__file__).resolve().parent
    candidates = [os.environ.get("RNNINFER_LIBRARY"), here / "librnninfer.so",
                  here.parents[1] / "dist" / "lib" / "librnninfer.so", "librnninfer.so"]
    errors = []
    for candidate in filter(None, candidates):
        if isinstance(candidate, pathlib.Path) and not candidate.exists():
            continue
        try:
            return ctypes.CDLL(str(candidate))
        except OSError as error:
            errors.append(f"{candidate}: {error}")
    raise OSError("librnninfer.so not found (run Tools/build-runtime or set RNNINFER_LIBRARY): " + "; ".join(errors))


library = _load_library()
library_path = library._name
_model_p = ctypes.c_void_p
_size = ctypes.c_size_t
_signatures = {
    "rnn_abi_version": ([], ctypes.c_uint32),
    "rnn_library_version": ([], ctypes.c_char_p),
    "rnn_supported_format": ([ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)], None),
    "rnn_last_error": ([], ctypes.c_char_p),
    "rnn_model_load": ([ctypes.c_char_p, ctypes.POINTER(_model_p)], ctypes.c_int),
    "rnn_model_load_buffer": ([ctypes.c_void_p, _size, ctypes.POINTER(_model_p)], ctypes.c_int),
    "rnn_model_free": ([_model_p], None),
    "rnn_model_get_info": ([_model_p, ctypes.POINTER(_Info)], ctypes.c_int),
    "rnn_model_label_count": ([_model_p], _size),
    "rnn_model_label": ([_model_p, _size, ctypes.c_char_p, _size, ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_classify": ([_model_p, ctypes.c_char_p, _size, ctypes.POINTER(ctypes.c_float), _size,
                      ctypes.POINTER(ctypes.c_int32)], ctypes.c_int),
    "rnn_classify_batch": ([_model_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_size), _size,
                            ctypes.POINTER(ctypes.c_float), _size, ctypes.POINTER(ctypes.c_int32)], ctypes.c_int),
    "rnn_top_k": ([_model_p, ctypes.c_char_p, _size, _size, ctypes.POINTER(ctypes.c_int32),
                   ctypes.POINTER(ctypes.c_float)], ctypes.c_int),
    "rnn_tokenize": ([_model_p, ctypes.c_char_p, _size, ctypes.POINTER(ctypes.c_int32), _size,
                      ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_explain": ([_model_p, ctypes.c_char_p, _size, _size, ctypes.POINTER(_TokenScore), _size,
                     ctypes.POINTER(_size)], ctypes.c_int),
    "rnn_stream_open": ([_model_p, ctypes.POINTER(_model_p)], ctypes.c_int),
    "rnn_stream_feed": ([_model_p, ctypes.c_char_p, _size], ctypes.c_int),
    "rnn_stream_probabilities": ([_model_p, ctypes.POINTER(ctypes.c_float), _size, ctypes.POINTER(ctypes.c_int32)],
                                 ctypes.c_int),
    "rnn_stream_reset": ([_model_p], ctypes.c_int),
    "rnn_stream_free": ([_model_p], None),
}
for _name, (_arguments, _result) in _signatures.items():
    _function = getattr(library, _name)
    _function.argtypes = _arguments
    _function.restype = _result


def _check(status):
    if status != 0:
        message = library.rnn_last_error()
        raise RNNInferError(status, message.decode("utf-8", "replace") if message else "librnninfer error")


def _utf8(text):
    return text if isinstance(text, bytes) else text.encode("utf-8")


def abi_version():
    return library.rnn_abi_version()


def _probabilities(values):
    return _numpy.array(values, dtype=_numpy.float32) if _numpy is not None else list(values)


def library_version() -> str:
    return library.rnn_library_version().decode()


class _Handle:
    """A library object: close() (or leaving `with`, or garbage collection) frees it once."""
    _handle = None

    def _free(self, handle):
        raise NotImplementedError

    def close(self):
        if self._handle:
            self._free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Model(_Handle):
    """A loaded model. Safe to share between threads; close() (or `with`) frees it."""

    def _free(self, handle):
        library.rnn_model_free(handle)

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, *, data: Optional[bytes] = None):
        self._handle = None
        if (path is None) == (data is None):
            raise ValueError("give a path or data=bytes")
        handle = _model_p()
        if path is not None:
            _check(library.rnn_model_load(os.fsencode(path), ctypes.byref(handle)))
        else:
            buffer = ctypes.create_string_buffer(bytes(data), len(data))
            _check(library.rnn_model_load_buffer(buffer, len(data), ctypes.byref(handle)))
        self._handle = handle
        info = _Info()
        _check(library.rnn_model_get_info(self._handle, ctypes.byref(info)))
        self.metadata = {
            "format_version": f"{info.format_major}.{info.format_minor}",
            "cell": ("rnn", "lstm", "gru")[info.cell], "layers": info.layers,
            "bidirectional": bool(info.bidirectional), "embedding": info.embedding, "hidden": info.hidden,
            "vocabulary_size": info.vocabulary_size, "tokenizer": ("word", "wordpiece")[info.tokenizer],
            "max_length": info.max_length or None,
        }
        self.labels = []
        for index in range(library.rnn_model_label_count(self._handle)):
            length = _size()
            name = ctypes.create_string_buffer(256)
            status = library.rnn_model_label(self._handle, index, name, 256, ctypes.byref(length))
            if status == 5:
                name = ctypes.create_string_buffer(length.value + 1)
                status = library.rnn_model_label(self._handle, index, name, length.value + 1, ctypes.byref(length))
            _check(status)
            self.labels.append(name.value.decode())

    def _live(self):
        if not self._handle:
            raise ValueError("the model is closed")
        return self._handle

    def classify(self, text: Text) -> Tuple[int, Sequence[float]]:
        """(best label index, probability per label)"""
        data = _utf8(text)
        probabilities = (ctypes.c_float * len(self.labels))()
        best = ctypes.c_int32()
        _check(library.rnn_classify(self._live(), data, len(data), probabilities, len(self.labels), ctypes.byref(best)))
        return best.value, _probabilities(probabilities)

    def classify_batch(self, texts: Sequence[Text]) -> List[Tuple[int, Sequence[float]]]:
        """[(best label index, probability per label)] for each text."""
        data = [_utf8(t) for t in texts]
        count, labels = len(data), len(self.labels)
        if count == 0:
            return []
        pointers = (ctypes.c_char_p * count)(*data)
        lengths = (_size * count)(*map(len, data))
        probabilities = (ctypes.c_float * (count * labels))()
        best = (ctypes.c_int32 * count)()
        _check(library.rnn_classify_batch(self._live(), pointers, lengths, count, probabilities, count * labels, best))
        return [(best[i], _probabilities(probabilities[i * labels:(i + 1) * labels])) for i in range(count)]

    def top_k(self, text: Text, k: int) -> List[Tuple[int, float]]:
        """[(label index, probability)], most likely first."""
        data = _utf8(text)
        labels = (ctypes.c_int32 * k)()
        probabilities = (ctypes.c_float * k)()
        _check(library.rnn_top_k(self._live(), data, len(data), k, labels, probabilities))
        return list(zip(labels, probabilities))

    def tokenize(self, text: Text) -> List[int]:
        """The ids the model reads for `text`."""
        data = _utf8(text)
        count = _size()
        capacity = 256
        while True:
            ids = (ctypes.c_int32 * capacity)()
            status = library.rnn_tokenize(self._live(), data, len(data), ids, capacity, ctypes.byref(count))
            if status != 5:
                _check(status)
                return list(ids[:count.value])
            capacity = count.value

    def explain(self, text: Text, label: Union[int, str, None] = None) -> List[Tuple[Text, Tuple[int, int], float]]:
        """Why `text` gets `label` (an index or a name; default: the label it is classified as): for each token
        the model reads, in text order, (the token's part of the text, (start, end), score). Scores are
        gradient × input on the token's embedding for the label's log-probability: positive ones push towards
        it. Spans index `text`: characters of a str, bytes of bytes."""
        data = _utf8(text)
        if label is None:
            label = self.classify(data)[0]
        elif isinstance(label, str):
            label = self.labels.index(label)
        capacity = max(len(data), 1)  # never more tokens than bytes
        tokens = (_TokenScore * capacity)()
        count = _size()
        _check(library.rnn_explain(self._live(), data, len(data), label, tokens, capacity, ctypes.byref(count)))
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
    time; many streams may share a model. Raises RNNInferError (status 6) for models that cannot stream:
    bidirectional, padded, or truncating from the head."""

    def __init__(self, model: Model):
        self.labels = model.labels
        self._handle = None
        handle = _model_p()
        _check(library.rnn_stream_open(model._live(), ctypes.byref(handle)))
        self._handle = handle

    def _free(self, handle):
        library.rnn_stream_free(handle)

    def _live(self):
        if not self._handle:
            raise ValueError("the stream is closed")
        return self._handle

    def feed(self, text: Text) -> "Stream":
        data = _utf8(text)
        _check(library.rnn_stream_feed(self._live(), data, len(data)))
        return self

    def probabilities(self) -> Tuple[int, Sequence[float]]:
        """(best label index, probability per label) of the text fed so far."""
        probabilities = (ctypes.c_float * len(self.labels))()
        best = ctypes.c_int32()
        _check(library.rnn_stream_probabilities(self._live(), probabilities, len(self.labels), ctypes.byref(best)))
        return best.value, _probabilities(probabilities)

    def reset(self) -> "Stream":
        _check(library.rnn_stream_reset(self._live()))
        return self

