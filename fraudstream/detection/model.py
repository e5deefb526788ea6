"""A trained detector as one ONNX file: the model, and a card saying how it was made.

ONNX holds only operators and weights, so a file fetched from a bucket runs
no code of its own when loaded (a pickle would). The card rides in the
file's metadata under ``fraudstream``: the detector, the generator seed and
rows it was trained on, the features in order, the threshold a score is
flagged at, which output holds the score, and the library versions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from fraudstream.detection.features import FEATURES

CARD_KEY = "fraudstream"


class ModelError(ValueError):
    """The file is not a model this version can score with; the message says why."""


@dataclass(frozen=True)
class ModelCard:
    detector: str
    threshold: float  # a score at or above it is flagged
    seed: int
    rows: int  # generated rows it was trained on
    features: tuple[str, ...] = FEATURES
    output: str = "probabilities"  # the output holding the score...
    column: int | None = 1  # ...its column, when it has several
    sign: float = 1.0  # -1 where the model's output is higher for normal rows
    libraries: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        values = json.loads(text)
        values["features"] = tuple(values["features"])
        return cls(**values)


class OnnxScorer:
    """Scores feature matrices with one model, on the CPU, a block at a time."""

    def __init__(self, model: bytes) -> None:
        # Here only: onnxruntime adds 20 MB to every process that imports it.
        import onnxruntime as ort  # noqa: PLC0415

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # the producer's other thread is librdkafka's
        try:
            self._session = ort.InferenceSession(
                model, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelError(f"not an ONNX model ({str(error).splitlines()[0][:200]})") from None
        props = self._session.get_modelmeta().custom_metadata_map
        if CARD_KEY not in props:
            raise ModelError("an ONNX model without a fraudstream card: train it with fraudstream")
        self.card = ModelCard.from_json(props[CARD_KEY])
        if self.card.features != FEATURES:
            raise ModelError(
                f"trained on other features ({', '.join(self.card.features)}): train it again"
            )
        self._input = self._session.get_inputs()[0].name

    def scores(self, features: np.ndarray) -> np.ndarray:
        """One float64 score per row: higher is more suspicious."""
        if len(features) == 0:
            return np.zeros(0)
        (output,) = self._session.run([self.card.output], {self._input: features})
        values = np.asarray(output, dtype=np.float64)
        if self.card.column is not None:
            values = values[:, self.card.column]
        return self.card.sign * values.reshape(-1)
