"""Segment medians against a plain per-group reference, on both of their layouts."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_ws.services.sources._segments import group_order, is_grouped_sorted, seg_median


def reference_median(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.full(n_groups, np.nan)
    for k in range(n_groups):
        v = np.sort(values[group == k])  # NaN last, as group_order puts it
        if len(v):
            out[k] = 0.5 * (v[(len(v) - 1) // 2] + v[len(v) // 2])
    return out


@pytest.mark.parametrize("layout", ["even", "uneven"])
def test_seg_median_equals_a_per_group_reference(layout):
    rng = np.random.default_rng(7 if layout == "even" else 8)
    for trial in range(60):
        n_groups, n = int(rng.integers(1, 40)), int(rng.integers(0, 600))
        group = rng.integers(0, n_groups, n)
        if layout == "uneven" and n:
            group[: n * 3 // 4] = 0  # one group holds most rows: the (group, value) sort path
        if trial % 2:
            group = np.sort(group)
        values = rng.normal(size=n)
        if trial % 3 == 0 and n:
            values[rng.integers(0, n, max(1, n // 8))] = np.nan
        if trial % 5 == 0:
            values = np.round(values, 1)  # ties
        got = seg_median(group, values, n_groups)
        assert np.array_equal(got, reference_median(group, values, n_groups), equal_nan=True)
    assert np.isnan(seg_median(np.zeros(0, int), np.zeros(0), 3)).all()


def test_group_order_and_sorted_check_agree():
    rng = np.random.default_rng(2)
    group, values = rng.integers(0, 20, 500), rng.uniform(0, 1, 500)
    order = group_order(group, values)
    g, v = group[order], values[order]
    assert np.all(np.diff(g) >= 0)
    assert all(np.all(np.diff(v[g == k]) >= 0) for k in range(20))
    assert is_grouped_sorted(g, v) and not is_grouped_sorted(group, values)
    assert not is_grouped_sorted(g[::-1], v[::-1])


def test_edge_cases_found_by_a_mutation_run():
    """Small inputs where each answer can be written down by hand (ties, two rows, groups
    in descending order); .ci/mutate.py found these comparisons untested."""
    g, v = np.array([0, 0]), np.array([2.0, 1.0])
    assert not is_grouped_sorted(g, v)  # two rows, out of order
    assert is_grouped_sorted(np.array([0, 0, 1]), np.array([1.0, 1.0, 0.0]))  # a tie is sorted
    assert not is_grouped_sorted(np.array([0, 0, 0]), np.array([1.0, 3.0, 2.0]))
    assert is_grouped_sorted(np.array([0]), np.array([5.0]))
    # groups given in descending order: each group's median, by hand
    group = np.array([2, 2, 2, 1, 1, 0])
    values = np.array([5.0, 1.0, 3.0, 4.0, 2.0, 7.0])
    np.testing.assert_array_equal(seg_median(group, values, 3), [7.0, 3.0, 3.0])


def _runs(rng, k: int, n: int, n_groups: int, values_of) -> tuple[np.ndarray, np.ndarray]:
    """``k`` runs, each sorted by (group, value): a partition read fragment after fragment."""
    gs, vs = [], []
    for _ in range(k):
        g, v = rng.integers(0, n_groups, n), values_of(n)
        o = np.lexsort((v, g))
        gs.append(g[o])
        vs.append(v[o])
    return np.concatenate(gs), np.concatenate(vs)


@pytest.mark.parametrize("k", [1, 2, 3, 15])
def test_group_order_merges_sorted_runs_exactly(k):
    """Few sorted runs are merged (the fast path is taken) and the order is exactly the
    stable (group, value) order, ties included."""
    from dsa110_ws.services.sources._segments import _float_key, _merge_runs

    rng = np.random.default_rng(k)
    for _ in range(20):
        group, values = _runs(
            rng,
            k,
            int(rng.integers(1, 300)),
            30,
            lambda n: np.round(rng.uniform(6e4, 6e4 + 9, n), 1),
        )
        want = np.lexsort((values, group))  # stable: ties keep their input order
        key = _float_key(group, values)
        assert key is not None and _merge_runs(key, group, values) is not None
        assert np.array_equal(group_order(group, values, stable=True), want)


def test_rows_in_no_order_take_one_key_sort_and_ties_keep_row_order():
    """Rows in no particular order (a build's rows in id order) with many ties in time:
    one sort of the float key, ties then in row order: the stable (group, value) order."""
    from dsa110_ws.services.sources._segments import MAX_RUNS, _float_key, _key_order

    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(50, 3000))
        group = rng.integers(0, int(rng.integers(1, 400)), n)
        values = np.round(rng.uniform(6e4, 6e4 + 30, n), int(rng.integers(0, 3)))  # ties
        key = _float_key(group, values)
        assert key is not None and np.count_nonzero(key[1:] < key[:-1]) >= MAX_RUNS
        want = np.lexsort((values, group))
        assert np.array_equal(_key_order(key, group, values), want)
        assert np.array_equal(group_order(group, values, stable=True), want)


def test_group_order_never_trusts_a_rounded_key():
    """Values closer than the float key can tell apart, met in the wrong order: merged
    runs are refused, and both the merge's fallback and the key sort of rows in no order
    put such rows in their exact order."""
    from dsa110_ws.services.sources._segments import _float_key, _key_order, _merge_runs

    # a span of 3000 days and a group of 2^20: the key's resolution there is about 5e-7
    group = np.array([0, 1 << 20, 0, 0, 1 << 20])
    values = 6e4 + np.array([2e-9, 2e-9, 0.0, 3000.0, 1e-9])  # run 1 | run 2
    key = _float_key(group, values)
    assert key is not None and key[1] == key[4]  # two values, one key
    assert _merge_runs(key, group, values) is None
    assert np.array_equal(group_order(group, values, stable=True), np.lexsort((values, group)))
    # the same collisions among rows in no order (many runs): the key sort, exact
    rng = np.random.default_rng(9)
    n = 4000
    group = np.where(rng.random(n) < 0.5, 1 << 20, rng.integers(0, 50, n))
    values = 6e4 + rng.choice([0.0, 1e-9, 2e-9, 3e-9, 3000.0], n)
    key = _float_key(group, values)
    assert key is not None and len(np.unique(key)) < len(np.unique(np.c_[group, values], axis=0))
    assert np.array_equal(_key_order(key, group, values), np.lexsort((values, group)))
    # NaN values take the exact sort
    rng = np.random.default_rng(3)
    group, values = _runs(rng, 40, 20, 5, lambda n: rng.uniform(0, 1, n))
    values[[3, 50]] = np.nan
    assert _float_key(group, values) is None
    assert np.array_equal(group_order(group, values, stable=True), np.lexsort((values, group)))
