"""The line model: is a line of a page dump part of the article?

A small multilayer perceptron (one hidden layer) over `line_features`. Its
weights ship in the package (`line_model.json` beside this file, a few KB of
JSON, loaded without network); `benchmarks/line_model/train.py` retrains it from
the labeled pages in `benchmarks/devpages/` and synthetic pages made from them
(see `benchmarks/line_model/README.md`). Inference is two small matrix products
per page.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.s3_clean.line_features import FEATURES

MODEL_PATH = Path(__file__).with_name("line_model.json")
_BLOCK_ROWS = 256  # rows per matrix product (below OpenBLAS's threading threshold)


@dataclass(frozen=True)
class LineModel:
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    threshold: float = 0.5
    source: str = ""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """P(article line) for each row of `features`."""
        if not len(features):
            return np.zeros(0)
        # in blocks of rows: on a long page one product would start BLAS's thread pool, which burns
        # more CPU than the product needs (800 lines: 2.4 ms of CPU against 0.05 ms in blocks)
        out = np.empty(len(features))
        for start in range(0, len(features), _BLOCK_ROWS):
            block = features[start : start + _BLOCK_ROWS]
            hidden = np.tanh(((block - self.mean) / self.scale) @ self.w1 + self.b1)
            out[start : start + len(block)] = 1.0 / (1.0 + np.exp(-(hidden @ self.w2 + self.b2)))
        return out

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "w1": self.w1.tolist(),
            "b1": self.b1.tolist(),
            "w2": self.w2.tolist(),
            "b2": self.b2,
            "threshold": self.threshold,
        }


def from_json(data: dict, source: str = "") -> LineModel:
    if list(data["features"]) != list(FEATURES):
        raise ValueError(
            f"{source}: line model was trained on other features; retrain it (benchmarks/line_model/train.py)"
        )
    return LineModel(
        np.array(data["mean"]),
        np.array(data["scale"]),
        np.array(data["w1"]),
        np.array(data["b1"]),
        np.array(data["w2"]),
        float(data["b2"]),
        float(data.get("threshold", 0.5)),
        source,
    )


@functools.lru_cache(maxsize=4)
def load_model(path: str | None = None) -> LineModel:
    p = Path(path) if path else MODEL_PATH
    return from_json(json.loads(p.read_text(encoding="utf-8")), str(p))
