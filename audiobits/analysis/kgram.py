"""Interpolated Kneser–Ney k-gram models: the classical baseline a trained LM must beat on the same targets.

Chen & Goodman 1998 (“An empirical study of smoothing techniques for language modeling”, interpolated KN with one
absolute discount per order, D = n1 / (n1 + 2 n2)). The highest order counts k-grams of the training stream; each
lower order counts *continuations* (how many distinct tokens precede the n-gram), and the lowest interpolates with
the uniform distribution over the vocabulary, so every id gets probability > 0:

    P_n(w | h) = max(c_n(h w) − D_n, 0) / c_n(h) + D_n · N1+(h •) / c_n(h) · P_{n−1}(w | h')      (c_n(h) > 0)
    P_n(w | h) = P_{n−1}(w | h')                                                                  (h unseen)

with c_n(h) = Σ_w c_n(h w), N1+(h •) the distinct ids seen after h and h' the history less its oldest token.
Streams run on across end-of-utterance tokens, as the trained model's do. Pure numpy: k-grams are int64 keys
(Σ token · V^i), so an order is available when V^k fits in int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ORDER = 4  # orders 1 … 4 where the vocabulary allows (V^k < 2^63)
INT64_MAX = np.iinfo(np.int64).max


def orders_for(vocab_size: int, highest: int = MAX_ORDER) -> list[int]:
    """The orders 1 … ``highest`` whose k-gram keys fit in int64 for this vocabulary."""
    return [k for k in range(1, highest + 1) if vocab_size ** k <= INT64_MAX]


def gram_keys(stream: np.ndarray, n: int, vocab_size: int) -> np.ndarray:
    """Key of every n-gram of ``stream`` (one per start position 0 … len − n), oldest token most significant."""
    stream = np.asarray(stream, dtype=np.int64)
    if len(stream) < n:
        return np.zeros(0, dtype=np.int64)
    keys = np.zeros(len(stream) - n + 1, dtype=np.int64)
    for i in range(n):
        keys = keys * vocab_size + stream[i:len(stream) - n + 1 + i]
    return keys


@dataclass
class OrderCounts:
    """One order's counts: sorted n-gram keys with their (raw or continuation) counts, and per history its total
    count and the distinct ids that followed it."""

    grams: np.ndarray
    counts: np.ndarray
    histories: np.ndarray
    history_totals: np.ndarray
    history_types: np.ndarray
    discount: float


def discount(counts: np.ndarray) -> float:
    """Absolute discount n1 / (n1 + 2 n2) from the count-of-counts (0.5 when neither 1s nor 2s were seen)."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 + n2 else 0.5


def order_counts(grams: np.ndarray, counts: np.ndarray, vocab_size: int) -> OrderCounts:
    """Per-history totals and type counts of one order's (key, count) table (keys sorted, unique)."""
    histories, start = np.unique(grams // vocab_size, return_index=True)
    totals = np.add.reduceat(counts, start) if len(counts) else np.zeros(0, np.int64)
    types = np.diff(np.append(start, len(grams)))
    return OrderCounts(grams, counts, histories, totals, types, discount(counts))


def fit_kneser_ney(train: np.ndarray, vocab_size: int, order: int) -> list[OrderCounts]:
    """Counts of orders 1 … ``order`` of the training stream: raw counts at the top, continuation counts below."""
    if order not in orders_for(vocab_size, max(order, 1)):
        raise ValueError(f"order {order} unavailable for vocab {vocab_size} (keys must fit int64; orders "
                         f"{orders_for(vocab_size)})")
    top, top_counts = np.unique(gram_keys(train, order, vocab_size), return_counts=True)
    tables = [order_counts(top, top_counts.astype(np.int64), vocab_size)]
    above = top
    for n in range(order - 1, 0, -1):
        # Continuation count of an n-gram: the distinct (n+1)-grams that end with it (its distinct left neighbours).
        grams, counts = np.unique(above % vocab_size ** n, return_counts=True)
        tables.append(order_counts(grams, counts.astype(np.int64), vocab_size))
        above = grams
    return tables[::-1]  # index n − 1 holds order n


def lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``values`` at ``queries`` in ``sorted_keys``, 0 where a query is absent."""
    at = np.clip(np.searchsorted(sorted_keys, queries), 0, max(len(sorted_keys) - 1, 0))
    found = sorted_keys[at] == queries if len(sorted_keys) else np.zeros(len(queries), bool)
    return np.where(found, values[at] if len(values) else 0, 0)


def kneser_ney_bits(tables: list[OrderCounts], stream: np.ndarray, vocab_size: int) -> np.ndarray:
    """−log2 P(x_t | the k − 1 tokens before t) for every target t = 1 … len − 1 of ``stream``; the first targets,
    with fewer tokens before them, use the order their history allows."""
    stream = np.asarray(stream, dtype=np.int64)
    targets = len(stream) - 1
    p = np.full(targets, 1.0 / vocab_size)
    for n, table in enumerate(tables, start=1):
        first = max(n - 2, 0)  # the first target with n − 1 tokens of history (target i is stream[i + 1])
        grams = gram_keys(stream, n, vocab_size) if n > 1 else stream[1:]
        histories = grams // vocab_size
        total = lookup(table.histories, table.history_totals, histories).astype(np.float64)
        types = lookup(table.histories, table.history_types, histories)
        count = lookup(table.grams, table.counts, grams)
        lower = p[first:]
        seen = total > 0
        safe = np.where(seen, total, 1.0)
        mixed = (np.maximum(count - table.discount, 0.0) + table.discount * types * lower) / safe
        p[first:] = np.where(seen, mixed, lower)
    return -np.log2(p)
