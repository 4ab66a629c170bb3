"""Exact batch scoring of a LightGBM forest with numpy bit vectors (QuickScorer).

LightGBM walks every tree for every row. For the small trees churnguard trains (at most 8 leaves)
a batch is faster the other way round, as QuickScorer does (Lucchese et al., SIGIR 2015): the
leaves of each tree are one bit each; a split that a row fails (``x > threshold``, it goes right)
clears the bits of the leaves on its left; once every split is applied, a tree's lowest set bit is
the leaf the row reaches. Here everything a row's value can do is tabulated at compile time:

- per encoded column, the thresholds of all its splits sorted, and for each "how many of them the
  value exceeds" the AND of those splits' masks over the whole forest, so a column costs one
  ``searchsorted`` and one row gather per batch;
- columns that take a few known values (the one-hot columns of a categorical field) are fed as a
  code per row instead, and several such fields share one table indexed by their combined code;
- per byte of the forest's bit vector (trees are packed whole into bytes), the sum of the leaf
  values its 256 states select, so the final step is one gather and one row sum.

The result equals LightGBM's raw score up to the order of a float sum (~1e-15): the comparisons
are the same ``double <= double`` on the same thresholds. Forests this cannot express (more than
8 leaves in a tree, categorical splits, zero-as-missing, several classes, random-forest averaging)
raise :class:`UnsupportedForestError`, and inputs with NaN raise ``ValueError``: callers use
LightGBM's own predictor for those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Largest number of rows in one combined code table.
GROUP_LIMIT = 1024
_MAX_LEAVES = 8


class UnsupportedForestError(ValueError):
    """The booster has a shape the bit-vector scorer does not express exactly."""


@dataclass(frozen=True)
class ForestInput:
    """One input of the scorer.

    ``values is None``: a continuous input, the float values of the single encoded column in
    ``columns``. Otherwise a coded input: an integer code per row, and row ``c`` of ``values``
    (shape ``(n_codes, len(columns))``) is what the encoded ``columns`` hold for code ``c``.
    """

    columns: tuple[int, ...]
    values: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class _Split:
    tree: int
    feature: int
    threshold: float
    mask: int  # the tree's leaf bits that stay possible when the split is failed


@dataclass(frozen=True)
class _Tree:
    leaves: tuple[float, ...]  # leaf values, left to right
    splits: tuple[_Split, ...]


def _parse_tree(tree: int, node: dict[str, Any]) -> _Tree:
    leaves: list[float] = []
    splits: list[_Split] = []

    def walk(n: dict[str, Any]) -> tuple[int, int]:
        if "leaf_value" in n:
            leaves.append(float(n["leaf_value"]))
            return len(leaves) - 1, len(leaves)
        if n.get("decision_type") != "<=":
            raise UnsupportedForestError(f"split type {n.get('decision_type')!r}")
        if n.get("missing_type") not in ("None", "NaN"):
            raise UnsupportedForestError(f"missing type {n.get('missing_type')!r}")
        low, middle = walk(n["left_child"])
        _, high = walk(n["right_child"])
        left_bits = ((1 << (middle - low)) - 1) << low
        splits.append(_Split(tree, int(n["split_feature"]), float(n["threshold"]), ~left_bits))
        return low, high

    walk(node)
    if len(leaves) > _MAX_LEAVES:
        raise UnsupportedForestError(f"a tree with {len(leaves)} leaves (at most {_MAX_LEAVES})")
    full = (1 << len(leaves)) - 1
    return _Tree(
        tuple(leaves), tuple(_Split(s.tree, s.feature, s.threshold, s.mask & full) for s in splits)
    )


def _pack(trees: Sequence[_Tree]) -> tuple[list[tuple[int, int]], int]:
    """(byte, bit offset) of every tree with splits; trees never straddle a byte."""
    slots: list[tuple[int, int]] = []
    byte, offset = 0, 0
    for tree in trees:
        width = len(tree.leaves) if tree.splits else 0
        if offset + width > 8:
            byte, offset = byte + 1, 0
        slots.append((byte, offset))
        offset += width
    return slots, byte + (1 if offset else 0)


def _leaf_table(
    trees: Sequence[_Tree], slots: Sequence[tuple[int, int]], n_bytes: int
) -> NDArray[np.float64]:
    """``table[b * 256 + v]``: the summed leaf values byte ``b`` selects in state ``v``."""
    states = np.arange(256)
    # Lowest set bit of every byte state (8 = none set, never reached by a real row).
    lowest = np.full(256, 8)
    for bit in range(7, -1, -1):
        lowest[(states >> bit) & 1 == 1] = bit
    table = np.zeros((n_bytes, 256))
    for tree, (byte, offset) in zip(trees, slots, strict=True):
        if not tree.splits:
            continue
        bits = (states >> offset) & ((1 << len(tree.leaves)) - 1)
        leaf = np.where(bits == 0, 0, lowest[np.where(bits == 0, 1, bits)])
        values = np.asarray(tree.leaves)[leaf]
        table[byte] += np.where(bits == 0, 0.0, values)
    return table.reshape(-1)


class CompiledForest:
    """A LightGBM binary booster compiled for exact numpy batch scoring.

    Args:
        booster: A fitted ``lightgbm.Booster``.
        inputs: How rows are fed: every encoded column a split uses must belong to one input.
        group_limit: Largest combined table of coded inputs (rows).

    Raises:
        UnsupportedForestError: the booster has a shape this scorer does not express.
        ValueError: ``inputs`` leave a used column out or name one twice.
    """

    def __init__(
        self, booster: Any, inputs: Sequence[ForestInput], group_limit: int = GROUP_LIMIT
    ) -> None:
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
            raise UnsupportedForestError("a multi-class booster")
        if dump.get("average_output"):
            raise UnsupportedForestError("a random-forest (averaged) booster")
        n_features = int(dump["max_feature_idx"]) + 1
        trees = [_parse_tree(i, t["tree_structure"]) for i, t in enumerate(dump["tree_info"])]
        slots, n_bytes = _pack(trees)
        self._n_bytes = n_bytes
        self._words = max(1, -(-n_bytes // 8))
        self._bias = float(sum(t.leaves[0] for t in trees if not t.splits))
        self._leaf_table = _leaf_table(trees, slots, n_bytes)
        self._byte_offsets = (np.arange(n_bytes) * 256).astype(np.int32)
        prefix, self._thresholds = self._prefix_masks(trees, slots, n_features)
        self._continuous: list[tuple[int, NDArray[np.float64], NDArray[np.uint64]]] = []
        coded: list[tuple[int, NDArray[np.uint64]]] = []
        seen: set[int] = set()
        for position, spec in enumerate(inputs):
            if seen & set(spec.columns):
                raise ValueError(f"input {position} repeats an encoded column")
            seen |= set(spec.columns)
            used = [j for j in spec.columns if j in prefix]
            if not used:
                continue
            if spec.values is None:
                if len(spec.columns) != 1:
                    raise ValueError(f"continuous input {position} must have one column")
                (column,) = spec.columns
                self._continuous.append((position, self._thresholds[column], prefix[column]))
            else:
                coded.append((position, self._code_masks(spec.columns, spec.values, prefix)))
        missing = sorted(set(prefix) - seen)
        if missing:
            raise ValueError(f"encoded columns {missing} are split on but fed by no input")
        self._groups = _group(coded, group_limit)
        self.n_inputs = len(inputs)

    def _prefix_masks(
        self, trees: Sequence[_Tree], slots: Sequence[tuple[int, int]], n_features: int
    ) -> tuple[dict[int, NDArray[np.uint64]], dict[int, NDArray[np.float64]]]:
        by_feature: dict[int, list[tuple[float, int, int]]] = {}
        for tree, (byte, offset) in zip(trees, slots, strict=True):
            others = 0xFF & ~(((1 << len(tree.leaves)) - 1) << offset)
            for split in tree.splits:
                # (threshold, byte, mask): the other trees' bits of the byte stay set.
                by_feature.setdefault(split.feature, []).append(
                    (split.threshold, byte, (split.mask << offset) | others)
                )
        prefix: dict[int, NDArray[np.uint64]] = {}
        thresholds: dict[int, NDArray[np.float64]] = {}
        for feature, entries in by_feature.items():
            if not 0 <= feature < n_features:  # pragma: no cover - LightGBM never writes these
                raise UnsupportedForestError(f"split on feature {feature}")
            unique = np.unique(np.array([t for t, _, _ in entries]))
            per_threshold = np.full((len(unique) + 1, self._words * 8), 0xFF, dtype=np.uint8)
            for threshold, byte, mask in entries:
                row = int(np.searchsorted(unique, threshold)) + 1
                per_threshold[row, byte] &= mask
            prefix[feature] = np.bitwise_and.accumulate(per_threshold, axis=0).view(np.uint64)
            thresholds[feature] = unique
        return prefix, thresholds

    def _code_masks(
        self,
        columns: tuple[int, ...],
        values: NDArray[np.float64],
        prefix: dict[int, NDArray[np.uint64]],
    ) -> NDArray[np.uint64]:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(columns):
            raise ValueError("coded input values must be (n_codes, n_columns)")
        masks = np.full((values.shape[0], self._words), np.iinfo(np.uint64).max, dtype=np.uint64)
        for k, column in enumerate(columns):
            if column in prefix:
                rows = np.searchsorted(self._thresholds[column], values[:, k], side="left")
                masks &= prefix[column][rows]
        return masks

    def raw_score(self, data: Sequence[NDArray[Any]]) -> NDArray[np.float64]:
        """LightGBM's raw score (log-odds) per row.

        Args:
            data: One array per input, in order: floats for a continuous input, integer codes
                (``0 <= code < n_codes``) for a coded one.

        Raises:
            ValueError: a continuous input holds NaN (score those rows with LightGBM).
        """
        if len(data) != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} input arrays, got {len(data)}")
        rows = len(data[0]) if data else 0
        acc = np.full((rows, self._words), np.iinfo(np.uint64).max, dtype=np.uint64)
        for position, thresholds, masks in self._continuous:
            values = np.asarray(data[position], dtype=np.float64)
            if np.isnan(values).any():
                raise ValueError(f"input {position} holds NaN")
            acc &= masks[np.searchsorted(thresholds, values, side="left")]
        for positions, strides, masks in self._groups:
            code = np.asarray(data[positions[0]], dtype=np.intp) * strides[0]
            for position, stride in zip(positions[1:], strides[1:], strict=True):
                code += np.asarray(data[position], dtype=np.intp) * stride
            acc &= masks[code]
        states = acc.view(np.uint8)[:, : self._n_bytes]
        picked = self._leaf_table[states + self._byte_offsets]
        return np.asarray(picked.sum(axis=1) + self._bias, dtype=np.float64)


def _group(
    coded: Sequence[tuple[int, NDArray[np.uint64]]], limit: int
) -> list[tuple[list[int], list[int], NDArray[np.uint64]]]:
    """Merge coded inputs into tables of at most ``limit`` rows: (positions, strides, masks)."""
    groups: list[tuple[list[int], list[int], NDArray[np.uint64]]] = []
    for position, masks in sorted(coded, key=lambda item: item[1].shape[0]):
        if groups and groups[-1][2].shape[0] * masks.shape[0] <= limit:
            positions, strides, table = groups[-1]
            n = masks.shape[0]
            merged = (table[:, None, :] & masks[None, :, :]).reshape(-1, table.shape[1])
            groups[-1] = ([*positions, position], [*(s * n for s in strides), 1], merged)
        else:
            groups.append(([position], [1], masks))
    return groups


__all__ = ["GROUP_LIMIT", "CompiledForest", "ForestInput", "UnsupportedForestError"]
