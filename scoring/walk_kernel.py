"""The compiled part of scoring.walks (numba): a binary RBF SVC's class probabilities along
permutation walks, with libsvm's sigmoid and pairwise coupling step for step. Imported only when
a model has that path.

Two ways to the kernel values at a step. `rbf_svc_walks` keeps each squared distance to a support
vector and changes it by one term a step, then takes its exponential (one exp per support vector
and step). `rbf_svc_table_walks`, for walks whose background rows come from a small table (a
background summary, the training rows), writes each kernel value as a product of one factor per
feature, exp(-gamma (v_j - s_j)^2), from the table's rows or from x: the table's factors are
computed once, a walk's product of the factors still to switch once from its end, and a step then
multiplies by x's factor (no exp at all; about 3x faster on the default SVC). The products round
differently again: within about 1e-11 of the running sums, and proven the same way.

`rbf_svc_switches` gives the rows one feature away from a row and from an anchor (the amortized
explainer's effects): a kernel value with feature j switched is the product of the other
features' factors (prefix times suffix products, no division) and j's new factor, and the M
switched rows' decision values are summed together, vectorized over the rows and in a fixed
order over the support vectors, so that a row's bits never depend on the rows beside it. A
support vector with two factors flushed to zero adds exactly zero to a row's sums and is
skipped (on the default SVC's raw features, about 60% of them for a row, and 50-75% for an
anchor): the same bits for 20-25% less time."""

from __future__ import annotations

import numba
import numpy as np

# the switch path's kernels may fuse a multiply and an add (never reassociate a sum, so a row's
# bits do not depend on the rows computed with it)
SWITCH_MATH = {"nnan", "ninf", "nsz", "contract"}


@numba.njit(cache=False, nogil=True)
def _pair_probability(dec: float, a: float, b: float) -> float:
    """libsvm's sigmoid_predict, clipped to [1e-7, 1 - 1e-7] as its predict_probability clips it."""
    f = dec * a + b
    if f >= 0:
        r = np.exp(-f) / (1.0 + np.exp(-f))
    else:
        r = 1.0 / (1 + np.exp(f))
    return min(max(r, 1e-7), 1 - 1e-7)


@numba.njit(cache=False, nogil=True)
def _couple(r01: float, q: np.ndarray, qp: np.ndarray, p: np.ndarray) -> None:
    """libsvm's multiclass_probability for k = 2 classes, loop for loop: p (2,) from the pairwise
    probability r01 by its iterative solver (which stops within 0.005 / k); q (2, 2) and qp (2,)
    are its work arrays."""
    k = 2
    r10 = 1 - r01
    q[0, 0] = r10 * r10
    q[0, 1] = -r10 * r01
    q[1, 0] = q[0, 1]
    q[1, 1] = r01 * r01
    p[0] = p[1] = 1.0 / k
    for _ in range(100):
        pqp = 0.0
        for t in range(k):
            qp[t] = 0.0
            for j in range(k):
                qp[t] += q[t, j] * p[j]
            pqp += p[t] * qp[t]
        if max(abs(qp[0] - pqp), abs(qp[1] - pqp)) < 0.005 / k:
            break
        for t in range(k):
            diff = (-qp[t] + pqp) / q[t, t]
            p[t] += diff
            pqp = (pqp + diff * (diff * q[t, t] + 2 * qp[t])) / (1 + diff) / (1 + diff)
            for j in range(k):
                qp[j] = (qp[j] + diff * q[t, j]) / (1 + diff)
                p[j] /= 1 + diff


@numba.njit(cache=False, nogil=True)
def rbf_svc_walks(X, background, order, sv_t, coef, gamma, intercept, a, b, out):  # type: ignore[no-untyped-def]
    """Fill out (n, P, M - 1, 2) with the class probabilities at each inner step of the walks from
    background (n, P, M) to X (n, M), feature order[i, p, t] switching at step t; sv_t (M, S) the
    support vectors, coef (S,) and intercept libsvm's, a and b Platt's."""
    n, p_count, m = background.shape
    s_count = sv_t.shape[1]
    d2 = np.empty(s_count)
    to_x = np.empty((m, s_count))
    q, qp = np.empty((2, 2)), np.empty(2)
    for i in range(n):
        for j in range(m):
            for s in range(s_count):
                t = X[i, j] - sv_t[j, s]
                to_x[j, s] = t * t
        for p in range(p_count):
            for s in range(s_count):
                d2[s] = 0.0
            for j in range(m):
                bj = background[i, p, j]
                for s in range(s_count):
                    t = bj - sv_t[j, s]
                    d2[s] += t * t
            for step in range(m - 1):
                j = order[i, p, step]
                bj = background[i, p, j]
                dec = 0.0
                for s in range(s_count):
                    t = bj - sv_t[j, s]
                    d2[s] += to_x[j, s] - t * t
                    dec += coef[s] * np.exp(-gamma * d2[s])
                _couple(_pair_probability(dec + intercept, a, b), q, qp, out[i, p, step])


@numba.njit(cache=False, nogil=True)
def _zero_masks(factors, tiny, masks):  # type: ignore[no-untyped-def]
    """Flush factors (M, S) below `tiny` to zero in place; masks (S,): bit j set where support
    vector s's factor of feature j is zero (the first 64 features; none beyond)."""
    m, s_count = factors.shape
    for s in range(s_count):
        masks[s] = 0
    for j in range(m):
        bit = np.uint64(1) << np.uint64(j) if j < 64 else np.uint64(0)
        for s in range(s_count):
            if factors[j, s] < tiny:
                factors[j, s] = 0.0
                masks[s] |= bit


@numba.njit(cache=False, nogil=True, fastmath=SWITCH_MATH)
def _lane_dot(c, x, y, count):  # type: ignore[no-untyped-def]
    """The decision value's sum of c[v] x[v] y[v] over v < count in four running sums (v mod 4,
    each in order, then added pairwise): chains the processor overlaps where one sum waits on
    each addition (about 15% less time a walk step); the order is fixed by `count` alone."""
    s0 = s1 = s2 = s3 = 0.0
    full = count - count % 4
    for v in range(0, full, 4):
        s0 += c[v] * (x[v] * y[v])
        s1 += c[v + 1] * (x[v + 1] * y[v + 1])
        s2 += c[v + 2] * (x[v + 2] * y[v + 2])
        s3 += c[v + 3] * (x[v + 3] * y[v + 3])
    for v in range(full, count):
        s0 += c[v] * (x[v] * y[v])
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=False, nogil=True)
def rbf_svc_table_factors(table, sv_t, gamma, tiny):  # type: ignore[no-untyped-def]
    """(R, M, S) the table rows' kernel factors exp(-gamma (v_j - s_j)^2), those below `tiny`
    zero, and (R, S) their `_zero_masks`."""
    m, s_count = sv_t.shape
    factors = np.empty((table.shape[0], m, s_count))
    masks = np.empty((table.shape[0], s_count), dtype=np.uint64)
    for r in range(table.shape[0]):
        for j in range(m):
            for s in range(s_count):
                t = table[r, j] - sv_t[j, s]
                factors[r, j, s] = np.exp(-gamma * t * t)
        _zero_masks(factors[r], tiny, masks[r])
    return factors, masks


@numba.njit(cache=False, nogil=True)
def rbf_svc_table_walks(X, factors, table_masks, index, order, sv_t, coef, gamma, intercept, a, b, tiny, out):  # type: ignore[no-untyped-def]
    """As `rbf_svc_walks`, the background row of walk (i, p) being row index[i, p] of a table
    given by its `rbf_svc_table_factors`. Factors and products below `tiny` are taken as zero
    (as the switch path takes them), so a support vector whose factor of some feature is zero
    both at x and at the walk's table row has a zero kernel value at every step of the walk: it
    is left out of the walk (on the default SVC about 60% of them for a test row and a summary
    row). A row's walks go by table row, each table row's near support vectors gathered once."""
    n, _, m = order.shape
    s_count = sv_t.shape[1]
    to_x = np.empty((m, s_count))
    x_masks = np.empty(s_count, dtype=np.uint64)
    # the near support vectors of (x, table row): their factors at x and at the row, coefficients
    near_x = np.empty((m, s_count))
    near_b = np.empty((m, s_count))
    near_coef = np.empty(s_count)
    rest = np.empty((m + 1, s_count))  # rest[t]: the product of the table's factors from step t on
    done = np.empty(s_count)  # the product of x's factors switched so far
    decisions = np.empty(m)
    q, qp = np.empty((2, 2)), np.empty(2)
    for i in range(n):
        for j in range(m):
            for s in range(s_count):
                t = X[i, j] - sv_t[j, s]
                to_x[j, s] = np.exp(-gamma * t * t)
        _zero_masks(to_x, tiny, x_masks)
        walks = np.argsort(index[i], kind="mergesort")
        current, live = -1, 0
        for p in walks:
            r = index[i, p]
            if r != current:
                current, live = r, 0
                for s in range(s_count):
                    if x_masks[s] & table_masks[r, s] == 0:
                        near_coef[live] = coef[s]
                        for j in range(m):
                            near_x[j, live] = to_x[j, s]
                            near_b[j, live] = factors[r, j, s]
                        live += 1
            for v in range(live):
                rest[m, v] = 1.0
                done[v] = 1.0
            for step in range(m - 1, 0, -1):
                j = order[i, p, step]
                for v in range(live):
                    product = rest[step + 1, v] * near_b[j, v]
                    rest[step, v] = product if product >= tiny else 0.0
            for step in range(m - 1):
                j = order[i, p, step]
                for v in range(live):
                    product = done[v] * near_x[j, v]
                    done[v] = product if product >= tiny else 0.0
                decisions[step] = _lane_dot(near_coef, done, rest[step + 1], live)
            # libsvm's coupling after the walk's sums: its divisions, independent from one step to
            # the next, overlap (a quarter less time a step than coupling each step as it comes)
            for step in range(m - 1):
                _couple(_pair_probability(decisions[step] + intercept, a, b), q, qp, out[i, p, step])


@numba.njit(cache=False, nogil=True, fastmath=SWITCH_MATH)
def _leave_one_out(factors, tiny, out):  # type: ignore[no-untyped-def]
    """out[j, s]: the product of factors[i, s] (M, S) over every feature i but j (prefix times
    suffix products, no division: a factor that underflowed to zero leaves the others' product
    exact), each product below `tiny` taken as zero (at least 1e-150: a product of two such
    values is zero or a normal number, and subnormal arithmetic costs many times more)."""
    m, s_count = factors.shape
    out[0, :] = 1.0
    for j in range(1, m):
        for s in range(s_count):
            v = out[j - 1, s] * factors[j - 1, s]
            out[j, s] = v if v >= tiny else 0.0
    after = np.ones(s_count)
    for j in range(m - 1, -1, -1):
        for s in range(s_count):
            v = out[j, s] * after[s]
            out[j, s] = v if v >= tiny else 0.0
            w = after[s] * factors[j, s]
            after[s] = w if w >= tiny else 0.0


@numba.njit(cache=False, nogil=True, fastmath=SWITCH_MATH)
def _switchable(factors, tiny, out, live):  # type: ignore[no-untyped-def]
    """out (2, S, M): the factors (M, S; flushed in place: each below `tiny` set to zero) and
    their `_leave_one_out` products, both support vector by support vector (the layout
    `_switched_sums` reads); returns how many support vectors have a non-zero product, their
    indices in order first in live (S,). A support vector with two zero factors has only zero
    products (each leaves one factor out): they are written without being multiplied out (on
    raw features, most support vectors are that far from a row in some two features)."""
    m, s_count = factors.shape
    masks = np.empty(s_count, dtype=np.uint64)
    _zero_masks(factors, tiny, masks)
    for s in range(s_count):
        for j in range(m):
            out[0, s, j] = factors[j, s]
    # at most one zero factor (among the first 64 features: one beyond them is multiplied out)
    candidates = np.flatnonzero(masks & (masks - np.uint64(1)) == 0)
    near = np.empty((m, len(candidates)))
    for j in range(m):
        for c in range(len(candidates)):
            near[j, c] = factors[j, candidates[c]]
    rest = np.empty((m, len(candidates)))
    _leave_one_out(near, tiny, rest)
    out[1] = 0.0
    count = 0
    for c in range(len(candidates)):
        s = candidates[c]
        nonzero = False
        for j in range(m):
            out[1, s, j] = rest[j, c]
            nonzero |= rest[j, c] != 0.0
        if nonzero:
            live[count] = s
            count += 1
    return count


@numba.njit(cache=False, nogil=True)
def rbf_svc_factors(rows, sv_t, coef, gamma, tiny):  # type: ignore[no-untyped-def]
    """(R, 2, S, M): each row's kernel factors exp(-gamma (v_j - s_j)^2) to every support vector
    and their products over every feature but j (`_switchable`), times the support vector's
    coefficient (the anchors' side of `_switched_sums`); (R, S) and (R,) each row's support
    vectors with a non-zero product (`_switchable`)."""
    r_count, m = rows.shape
    s_count = sv_t.shape[1]
    out = np.empty((r_count, 2, s_count, m))
    live = np.empty((r_count, s_count), dtype=np.int64)
    counts = np.empty(r_count, dtype=np.int64)
    factors = np.empty((m, s_count))
    for r in range(r_count):
        for j in range(m):
            for s in range(s_count):
                t = rows[r, j] - sv_t[j, s]
                factors[j, s] = np.exp(-gamma * t * t)
        counts[r] = _switchable(factors, tiny, out[r], live[r])
        for side in range(2):
            for s in range(s_count):
                for j in range(m):
                    out[r, side, s, j] *= coef[s]
    return out, live, counts


@numba.njit(cache=False, nogil=True, fastmath=SWITCH_MATH)
def _switched_sums(x, x_live, anchor, anchor_live):  # type: ignore[no-untyped-def]
    """The decision values (less the intercept) of the M rows one feature away from x towards
    the anchor and of those from the anchor towards x; x `_switchable`'s (2, S, M), anchor
    `rbf_svc_factors`' (with the coefficients in), each with its live support vectors (`_switchable`).
    Summed support vector by support vector, in order, for all M rows at once (a loop the
    compiler vectorizes over the rows, not over the sum; a branch in it would stop that). A
    support vector whose products are all zero on one side adds exactly zero to that side's
    sums (most do, on raw features: x is far from them in some two features), so it is skipped:
    the same bits, fewer terms."""
    m = x.shape[2]
    to_anchor = np.zeros(m)
    to_x = np.zeros(m)
    for s in x_live:
        x_rest, anchor_factor = x[1, s], anchor[0, s]
        for j in range(m):
            to_anchor[j] += x_rest[j] * anchor_factor[j]
    for s in anchor_live:
        x_factor, anchor_rest = x[0, s], anchor[1, s]
        for j in range(m):
            to_x[j] += anchor_rest[j] * x_factor[j]
    return to_anchor, to_x


@numba.njit(cache=False, nogil=True)
def rbf_svc_switches(x_factors, anchor_factors, anchor_live, anchor_counts, intercept, a, b, tiny, out):  # type: ignore[no-untyped-def]
    """Fill out (n, R, 2, M, 2) with the class probabilities at the rows one feature away from
    n rows and from R anchors: out[i, r, 0, j] at row i with feature j set to the anchor's value,
    out[i, r, 1, j] at the anchor with feature j set to row i's; x_factors (n, M, S) the rows'
    kernel factors (flushed in place), anchor_factors, anchor_live and anchor_counts the
    anchors' `rbf_svc_factors`. Each kernel value is a product of one factor per feature (as
    `rbf_svc_table_walks`), so a row one feature away costs one product per support vector."""
    n, m, s_count = x_factors.shape
    x = np.empty((2, s_count, m))
    x_live = np.empty(s_count, dtype=np.int64)
    q, qp = np.empty((2, 2)), np.empty(2)
    for i in range(n):
        live = x_live[: _switchable(x_factors[i], tiny, x, x_live)]
        for r in range(anchor_factors.shape[0]):
            to_anchor, to_x = _switched_sums(x, live, anchor_factors[r], anchor_live[r, : anchor_counts[r]])
            for j in range(m):
                _couple(_pair_probability(to_anchor[j] + intercept, a, b), q, qp, out[i, r, 0, j])
                _couple(_pair_probability(to_x[j] + intercept, a, b), q, qp, out[i, r, 1, j])
