"""near_dedup's keep rule, shared by the in-process reduce (`near.py`) and the sharded one
(`sharded.py`), so that both modes keep the same documents and write the same rejects.

Documents are taken in keep order (earliest `created`, then input order; an earlier run's
documents first). A document is dropped when a *kept* candidate reaches the threshold; of its
kept near-copies it names the best `Match`: not a record of itself (the same id reseen from an
earlier run comes first), then the most similar, then an earlier run's before this run's, then
the better keep rank.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipeline.step import Drop

REASON = "near_duplicate"


def jaccard(a: np.ndarray, b: np.ndarray | None) -> float:
    """Exact Jaccard of two sorted, unique shingle hash sets."""
    if b is None or a.size + b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def estimate(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard estimated from two MinHash signatures: the share of equal slots."""
    return float(np.count_nonzero(a == b)) / a.size


@dataclass(frozen=True, order=True)
class Match:
    """A kept near-copy of a document; of several, the smallest is the one named in `dup_of`."""

    other_id: bool  # False: an earlier run's record with the document's own id (ranks first)
    minus_similarity: float
    this_run: int  # 0: a document kept by an earlier run, 1: one kept by this run
    rank: object  # keep rank among the matches of the same side (an int or a tuple, never mixed)
    doc_id: str | None  # None when the caller resolves it only for the winner (in-process reduce)

    @property
    def similarity(self) -> float:
        return -self.minus_similarity


def earlier_run_match(own_id: str, doc_id: str, similarity: float, rank: object) -> Match:
    return Match(doc_id != own_id, -similarity, 0, rank, doc_id)


def this_run_match(similarity: float, rank: object, doc_id: str | None = None) -> Match:
    return Match(True, -similarity, 1, rank, doc_id)


def better(best: Match | None, candidate: Match) -> Match:
    return candidate if best is None or candidate < best else best


def near_drop(order: int, match: Match, doc_id: str, exact: bool, counters: Counter) -> Drop:
    """The Drop of the document at `order`, a near-copy of `doc_id` (the match's document)."""
    counters["this_run_matches" if match.this_run else "earlier_run_matches"] += 1
    measure = "jaccard" if exact else "estimated jaccard"
    where = "" if match.this_run else " (earlier run)"
    return Drop(order, REASON, f"{measure} {match.similarity:.3f} with {doc_id}{where}", doc_id)
