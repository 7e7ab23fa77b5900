"""A scikit-learn estimator over rnnkit.train: fit(X, y) on texts and labels, in Pipelines and searches.

    from rnnkit.sklearn import RNNClassifier
    clf = RNNClassifier(cell="gru", hidden=128, epochs=5).fit(texts, labels)
"""
try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.validation import check_is_fitted
except ImportError as error:  # pragma: no cover — the message is the point
    raise ImportError("rnnkit.sklearn needs scikit-learn: pip install 'rnnkit[sklearn]'") from error

import numpy as _numpy

import rnnkit


class RNNClassifier(ClassifierMixin, BaseEstimator):
    """An rnnkit text classifier as a scikit-learn estimator. Parameters left None take the recipe's value;
    labels may be of any type (they are told apart by str(), and `classes_` keeps the originals, sorted as
    `prep csv` sorts them)."""

    def __init__(self, recipe="csv", cell=None, embedding=None, hidden=None, layers=None, bidirectional=None,
                 dropout=None, max_length=None, epochs=None, batch_size=None, learning_rate=None,
                 weight_decay=None, validation=0.1, tokenizer=None, vocab_size=None, seed=1, threads=None,
                 progress=False):
        self.recipe = recipe
        self.cell = cell
        self.embedding = embedding
        self.hidden = hidden
        self.layers = layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.max_length = max_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation = validation
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.seed = seed
        self.threads = threads
        self.progress = progress

    @staticmethod
    def _texts(X):
        return [x for x in (X.tolist() if hasattr(X, "tolist") else list(X))]

    def fit(self, X, y):
        texts = self._texts(X)
        labels = y.tolist() if hasattr(y, "tolist") else list(y)
        if len(texts) != len(labels):
            raise ValueError(f"X has {len(texts)} texts but y has {len(labels)} labels")
        original = {}
        for label in labels:
            original.setdefault(str(label), label)
        settings = {name: getattr(self, name) for name in (
            "cell", "embedding", "hidden", "layers", "bidirectional", "dropout", "max_length", "epochs",
            "batch_size", "learning_rate", "weight_decay", "vocab_size", "seed", "threads")}
        self.model_ = rnnkit.train(rnnkit.Dataset(texts, [str(label) for label in labels]),
                                   validation=self.validation, recipe=self.recipe, tokenizer=self.tokenizer,
                                   progress=self.progress, **settings)
        self.classes_ = _numpy.array([original[name] for name in self.model_.classes_])
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.model_.predict_proba(self._texts(X))

    def predict(self, X):
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]
