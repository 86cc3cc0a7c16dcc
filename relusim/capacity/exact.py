"""Complete search: does a binary committee machine (tree or fully connected) store a training set at all?

The question is whether some W in {-1,+1}^N (a tree; K N weights fully connected) has zero energy,
E(W) = 0 (``relusim.models.machine.energy``: a zero output counts as an error). Three exact searches, all
much faster than the enumeration of every W that ``relusim.models.machine`` would need, and all return a
witness that is checked against it:

* K = 1 (the binary perceptron): depth-first branch and bound on the weights. With the gauge
  x^mu = sigma^mu xi^mu, a solution needs h^mu = sum_i w_i x^mu_i >= 1 for every mu. After d weights
  are fixed, any set S of patterns needs sum_{mu in S} (1 - h_d^mu) <= sum_{i free} |sum_{mu in S}
  x^mu_i| (the most the free weights can add to the sum of S's fields); a node that fails this for
  S = the k neediest patterns, for some k, is cut (k = 1: h_d^mu + (N - d) >= 1).
* K > 1 (a tree): enumeration of the internal representations. Unit l sees its own n = N/K inputs,
  so its contribution to pattern mu, v_l^mu = sigma^mu c_l g(H_l^mu) (H_l^mu = W_l . xi_l^mu, g = sgn
  or ReLU, c_l the output weights), depends on W_l alone. A solution is one vector v_l per unit from
  the set V_l of the 2^n that unit can make, with sum_l v_l^mu >= 1 for every mu (for sign units
  sum_l v_l^mu is the number of correct units minus the wrong ones, so this is the majority rule).
  The search picks units one at a time, always the one with the fewest vectors left, and keeps for
  every unit only the vectors v with S^mu + v^mu + sum_{others} U^mu >= 1 for all mu, where S is the
  sum of the units chosen so far and U_l^mu = max over the vectors unit l has left (an upper bound on
  what it can still add). Duplicates and vectors dominated componentwise by another of the same
  unit are dropped first: the rule is monotone in every v_l, so they can never be needed.
* K > 1 fully connected: every unit sees all N inputs, so every unit draws its vector from the same
  2^N, scaled by its c_l (sign: only half are walked, -W giving -v). Units with equal c_l are
  interchangeable, so a solution is a multiset of rows per class of equal c_l (one class for sign,
  two of K/2 for ReLU): the search takes the units in order, rows non-decreasing within a class,
  after duplicates and dominated rows are dropped, and keeps a row only if, for every mu, the sum so
  far plus (units left) x (the componentwise maximum of the rows they may still take) reaches 1.
  Its twin ``brute_force_fully_connected`` enumerates all 2^(K N) networks (K N <= 20).

Cost: K = 1 visits a tree of about 2^(0.45 N) nodes near alpha = 0.85 (measured N = 29..41); K > 1 costs K 2^n P to enumerate
and, in the worst case, a product of the sizes of the sets that survive the bounds. ``budget`` caps
the number of search nodes; a search that hits it returns UNKNOWN, never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .. import kernels  # noqa: F401 - sets numba's cache folder (kernels.CACHE_DIR) before the decorators below
from ..models import machine

SAT, UNSAT, UNKNOWN = 1, 0, -1
DOMINANCE_MAX = 20000  # dominance pruning is O(M^2 P) per unit: only for sets up to this size


@dataclass(frozen=True)
class ExactResult:
    """``status``: SAT, UNSAT or UNKNOWN (budget hit); ``weights`` a solution (N,) int8 when SAT."""

    status: int
    weights: np.ndarray | None
    nodes: int


# ------------------------------------------------------------------------- K = 1: weights --


@njit(cache=True)
def _perceptron_bb(XT, budget, w_out):
    """Branch and bound over the weights of h^mu = sum_i w_i XT[mu, i] >= 1 (XT = sigma xi), weights
    fixed in the order 0, 1, ..., N - 1; at a node the first d are fixed, the N - d others free.

    The bound (a node is cut when it fails): for every k, with S_k the k patterns of largest need
    t^mu = 1 - h_d^mu, sum_{mu in S_k} t^mu <= max_{free w} sum_{mu in S_k} h_free^mu
    = sum_{i free} |sum_{mu in S_k} x_i^mu|. This is the Lagrangian (weak duality) bound of the linear
    relaxation with 0/1 multipliers on the neediest patterns; k = 1 is t^mu <= N - d. It cuts about
    200 times more nodes than k = 1 alone at N = 29. Returns (status, nodes); on SAT ``w_out`` holds
    the solution.
    """
    P, N = XT.shape
    h = np.zeros(P, np.int64)
    val = np.zeros(N, np.int64)  # value tried at each depth
    second = np.zeros(N, np.int64)  # the other allowed value still to try (0: none)
    need = np.zeros(P, np.int64)
    order = np.arange(P)
    c = np.zeros(N, np.int64)
    d = 0
    nodes = 0
    entering = True
    while True:
        if entering:
            if d == N:
                for i in range(N):
                    w_out[i] = val[i]
                return 1, nodes
            nodes += 1
            if nodes > budget:
                return -1, nodes
            feasible = True
            if d > 0:
                for mu in range(P):
                    need[mu] = 1 - h[mu]
                for a in range(1, P):  # insertion sort: the order changes little from node to node
                    m = order[a]
                    b = a - 1
                    while b >= 0 and need[order[b]] < need[m]:
                        order[b + 1] = order[b]
                        b -= 1
                    order[b + 1] = m
                for i in range(d, N):
                    c[i] = 0
                total = 0
                for k in range(P):
                    mu = order[k]
                    total += need[mu]
                    s = 0
                    for i in range(d, N):
                        c[i] += XT[mu, i]
                        s += abs(c[i])
                    if total > s:
                        feasible = False
                        break
            if not feasible:
                entering = False
                d -= 1
                if d < 0:
                    return 0, nodes
                continue
            r = N - d - 1  # free weights after this one
            ok_p = True
            ok_m = True
            pref = 0.0
            for mu in range(P):
                x = XT[mu, d]
                # value v gives h + v x + r >= 1 needed
                if h[mu] + x + r < 1:
                    ok_p = False
                if h[mu] - x + r < 1:
                    ok_m = False
                pref += x / (h[mu] + r + 1.0)  # lean towards the tight patterns
            if not ok_p and not ok_m:
                entering = False
                d -= 1
                if d < 0:
                    return 0, nodes
                continue
            first = 1 if pref >= 0 else -1
            if (first == 1 and not ok_p) or (first == -1 and not ok_m):
                first = -first
                second[d] = 0
            else:
                second[d] = -first if (ok_p and ok_m) else 0
            val[d] = first
            for mu in range(P):
                h[mu] += first * XT[mu, d]
            d += 1
            continue
        # backtracking into depth d: undo its value, try the other one if allowed
        v = val[d]
        for mu in range(P):
            h[mu] -= v * XT[mu, d]
        if second[d] != 0:
            v = second[d]
            second[d] = 0
            val[d] = v
            for mu in range(P):
                h[mu] += v * XT[mu, d]
            d += 1
            entering = True
            continue
        d -= 1
        if d < 0:
            return 0, nodes


def solve_perceptron(xi: np.ndarray, sigma: np.ndarray, budget: int = 10**12) -> ExactResult:
    """K = 1, sign: is there w in {+-1}^N with sigma^mu (w . xi^mu) >= 1 for every mu?"""
    XT = np.ascontiguousarray(sigma[:, None].astype(np.int64) * xi.astype(np.int64))
    w = np.zeros(XT.shape[1], np.int64)
    status, nodes = _perceptron_bb(XT, np.int64(budget), w)
    return ExactResult(int(status), w.astype(np.int8) if status == SAT else None, int(nodes))


# ------------------------------------------------------------ K > 1: internal representations --


@njit(inline="always")
def _gray_walk(xi, sigma, c, relu, walk, V, codes):
    """Rows 0..walk-1 of V and codes: the weight vectors of one unit in Gray code order, one weight
    flipped per step, so the fields H^mu = W . xi^mu move by +-2 xi^mu_i in O(P) a step.

    V[k, mu] = sigma^mu c g(H^mu) (g sign or ReLU, exact integers); ``codes[k]`` has bit i set where W_i = -1.
    """
    P, n = xi.shape
    H = np.zeros(P, np.int64)
    for mu in range(P):
        for i in range(n):
            H[mu] += xi[mu, i]
    code = 0
    for k in range(walk):
        if k > 0:
            i = 0
            while not ((k >> i) & 1):
                i += 1
            code ^= 1 << i
            s = -2 if (code >> i) & 1 else 2  # W_i went +1 -> -1 (s = -2) or back
            for mu in range(P):
                H[mu] += s * xi[mu, i]
        codes[k] = code
        for mu in range(P):
            h = H[mu]
            if relu:
                g = h if h > 0 else 0
            else:
                g = 1 if h > 0 else (-1 if h < 0 else 0)
            V[k, mu] = sigma[mu] * c * g


@njit(cache=True)
def _unit_vectors(xi_l, sigma, c, relu):
    """All 2^n weight vectors of one unit (``_gray_walk``): contributions V (2^n, P) and codes."""
    P, n = xi_l.shape
    M = 1 << n
    V = np.empty((M, P), np.int16)
    codes = np.empty(M, np.int64)
    _gray_walk(xi_l, sigma, c, relu, M, V, codes)
    return V, codes


@njit(cache=True)
def _undominated(V):
    """Indices of the rows of V that no other row dominates componentwise.

    V has no duplicate rows and is sorted by decreasing row sum, so only an earlier row can dominate
    a later one, and (dominance being transitive) only an earlier row that is itself kept need be tried.
    """
    M, P = V.shape
    keep = np.ones(M, np.bool_)
    for a in range(M):
        for b in range(a):
            if not keep[b]:
                continue
            ge = True  # does b dominate a?
            for mu in range(P):
                if V[b, mu] < V[a, mu]:
                    ge = False
                    break
            if ge:
                keep[a] = False
                break
    return np.nonzero(keep)[0]


@njit(cache=True)
def _prepare(V, off, cand, cnt, S, rem, UB, d, K, P):
    """Bound the node at depth d: shrink every remaining unit's list, tighten the bounds U; feasible?"""
    for it in range(4):
        for l in range(K):
            if not rem[d, l]:
                continue
            if cnt[d, l] == 0:
                return False
            for mu in range(P):
                UB[l, mu] = -(1 << 30)
            base = off[l]
            for k in range(cnt[d, l]):
                r = cand[d, base + k]
                for mu in range(P):
                    if V[r, mu] > UB[l, mu]:
                        UB[l, mu] = V[r, mu]
        changed = False
        for mu in range(P):
            t = S[d, mu]
            for l in range(K):
                if rem[d, l]:
                    t += UB[l, mu]
            if t < 1:
                return False
        for l in range(K):
            if not rem[d, l]:
                continue
            base = off[l]
            kept = 0
            for k in range(cnt[d, l]):
                r = cand[d, base + k]
                good = True
                for mu in range(P):
                    t = S[d, mu] + V[r, mu]
                    for m in range(K):
                        if m != l and rem[d, m]:
                            t += UB[m, mu]
                    if t < 1:
                        good = False
                        break
                if good:
                    cand[d, base + kept] = r
                    kept += 1
            if kept < cnt[d, l]:
                changed = True
                cnt[d, l] = kept
                if kept == 0:
                    return False
        if not changed:
            return True
    return True


@njit(cache=True)
def _tree_search(V, off, K, budget, chosen_rows):
    """Depth-first search over units for one row per unit with column sums >= 1 (see the module doc).

    Returns (status, nodes); on SAT, ``chosen_rows[l]`` is unit l's row of V.
    """
    total, P = V.shape
    cand = np.empty((K + 1, total), np.int64)
    cnt = np.zeros((K + 1, K), np.int64)
    S = np.zeros((K + 1, P), np.int64)
    rem = np.zeros((K + 1, K), np.bool_)
    UB = np.zeros((K, P), np.int64)
    unit = np.full(K + 1, -1, np.int64)
    pos = np.zeros(K + 1, np.int64)
    row_at = np.full(K + 1, -1, np.int64)
    for l in range(K):
        rem[0, l] = True
        cnt[0, l] = off[l + 1] - off[l]
        for k in range(cnt[0, l]):
            cand[0, off[l] + k] = off[l] + k
    nodes = 1
    if not _prepare(V, off, cand, cnt, S, rem, UB, 0, K, P):
        return 0, nodes
    d = 0
    while True:
        left = 0
        for l in range(K):
            if rem[d, l]:
                left += 1
        if left == 1 and unit[d] == -1:  # the bound guarantees every row left completes a solution
            for l in range(K):
                if rem[d, l]:
                    row_at[d] = cand[d, off[l]]
                    unit[d] = l
            for e in range(d + 1):
                chosen_rows[unit[e]] = row_at[e]
            return 1, nodes
        if unit[d] == -1:
            best = -1
            for l in range(K):
                if rem[d, l] and (best == -1 or cnt[d, l] < cnt[d, best]):
                    best = l
            unit[d] = best
            pos[d] = 0
        l = unit[d]
        if pos[d] >= cnt[d, l]:
            unit[d] = -1
            d -= 1
            if d < 0:
                return 0, nodes
            continue
        r = cand[d, off[l] + pos[d]]
        pos[d] += 1
        row_at[d] = r
        nodes += 1
        if nodes > budget:
            return -1, nodes
        for mu in range(P):
            S[d + 1, mu] = S[d, mu] + V[r, mu]
        for m in range(K):
            rem[d + 1, m] = rem[d, m] and m != l
            cnt[d + 1, m] = cnt[d, m] if rem[d + 1, m] else 0
            if rem[d + 1, m]:
                for k in range(cnt[d, m]):
                    cand[d + 1, off[m] + k] = cand[d, off[m] + k]
        if _prepare(V, off, cand, cnt, S, rem, UB, d + 1, K, P):
            d += 1
            unit[d] = -1


def unit_sets(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int):
    """Per unit: its distinct undominated contribution vectors (M_l, P) and one weight vector for each."""
    P, N = xi.shape
    n = N // K
    c = machine.output_weights(activation, K)
    sets = []
    for l in range(K):
        xi_l = np.ascontiguousarray(xi[:, l * n:(l + 1) * n]).astype(np.int64)
        V, codes = _unit_vectors(xi_l, sigma.astype(np.int64), int(c[l]), activation == "relu")
        V, first = np.unique(V, axis=0, return_index=True)
        order = np.argsort(-V.sum(axis=1, dtype=np.int64), kind="stable")
        V, codes = V[order], codes[first][order]
        if len(V) <= DOMINANCE_MAX:
            keep = _undominated(V)
            V, codes = V[keep], codes[keep]
        sets.append((V, codes))
    return sets


def _weights_of(code: int, n: int) -> np.ndarray:
    return np.where((int(code) >> np.arange(n)) & 1, -1, 1).astype(np.int8)


def solve_tree(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int,
               budget: int = 10**12) -> ExactResult:
    """K >= 1 tree by internal representations (K = 1 reduces to enumerating 2^N vectors)."""
    P, N = xi.shape
    n = N // K
    sets = unit_sets(xi, sigma, activation, K)
    off = np.zeros(K + 1, np.int64)
    off[1:] = np.cumsum([len(V) for V, _ in sets])
    V = np.ascontiguousarray(np.concatenate([V for V, _ in sets]).astype(np.int16))
    rows = np.full(K, -1, np.int64)
    status, nodes = _tree_search(V, off, K, np.int64(budget), rows)
    w = None
    if status == SAT:
        w = np.concatenate([_weights_of(sets[l][1][rows[l] - off[l]], n) for l in range(K)])
    return ExactResult(int(status), w, int(nodes))


# ------------------------------------------- fully connected: K-tuples of whole-input units --


@njit(cache=True)
def _fc_unit_vectors(xi, sigma, relu):
    """Every weight vector of a unit that sees all N inputs: Y (2^N, P) with Y[k, mu] = sigma^mu g(H^mu),
    H^mu = W . xi^mu (before the readout weight c), and ``codes[k]`` with bit i set where W_i = -1.

    Gray code order (``_gray_walk``). sign (odd g): only the 2^(N-1) vectors with W_{N-1} = +1 are walked; the flipped
    vector -W gives g(-H) = -g(H) exactly, so its row is -Y and its code the complement."""
    P, N = xi.shape
    M = 1 << N
    walk = M if relu else M >> 1
    Y = np.empty((M, P), np.int16)
    codes = np.empty(M, np.int64)
    _gray_walk(xi, sigma, 1, relu, walk, Y, codes)
    if not relu:
        for k in range(walk):
            codes[k + walk] = codes[k] ^ (M - 1)
            for mu in range(P):
                Y[k + walk, mu] = -Y[k, mu]
    return Y, codes


@njit(cache=True)
def _fc_search(V, off, SM, cls, rem, budget, chosen_rows):
    """Depth-first search for rows r_0 <= ... of V, one per unit, with column sums >= 1 (sum_l v_l^mu >= 1).

    Units t = 0..K-1 in order; unit t draws from its class cls[t] (the rows off[c]..off[c+1]-1 of V, sorted
    by decreasing row sum), and units of one class (equal readout weight c_l, so interchangeable) draw
    non-decreasing rows: every multiset of rows is visited once, not K!/(multiplicities) times.
    ``SM[r]`` is the componentwise maximum of the rows r..off[c+1]-1 of r's class, ``rem[t, c]`` the
    number of units of class c after unit t. A row is kept when, for every mu, the sum so far plus
    rem * SM of the rows the later units may still take reaches 1 (an upper bound on what they add);
    at the last unit this is the solution test itself. Every row tried is one node. Returns
    (status, nodes); on SAT ``chosen_rows[t]`` is unit t's row.
    """
    total, P = V.shape
    K = cls.shape[0]
    C = off.shape[0] - 1
    S = np.zeros((K + 1, P), np.int64)
    cur = np.zeros(K, np.int64)
    t = 0
    cur[0] = off[cls[0]]
    nodes = 0
    while True:
        c = cls[t]
        if cur[t] >= off[c + 1]:
            t -= 1
            if t < 0:
                return 0, nodes
            cur[t] += 1
            continue
        r = cur[t]
        nodes += 1
        if nodes > budget:
            return -1, nodes
        ok = True
        for mu in range(P):
            s = S[t, mu] + V[r, mu]
            S[t + 1, mu] = s
            for cc in range(C):
                k = rem[t, cc]
                if k > 0:
                    s += k * SM[r if cc == c else off[cc], mu]
            if s < 1:
                ok = False
                break
        if not ok:
            cur[t] += 1
            continue
        if t == K - 1:
            for e in range(K):
                chosen_rows[e] = cur[e]
            return 1, nodes
        t += 1
        cur[t] = r if cls[t] == c else off[cls[t]]


def fc_classes(activation: str, K: int) -> list[tuple[int, list[int]]]:
    """The readout weights c_l grouped: [(c, units with that c)], in the order of the units."""
    c = [int(v) for v in machine.output_weights(activation, K)]
    groups: list[tuple[int, list[int]]] = []
    for l, v in enumerate(c):
        if groups and groups[-1][0] == v:
            groups[-1][1].append(l)
        else:
            groups.append((v, [l]))
    return groups


def fc_unit_sets(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int):
    """Per class of units (equal c_l): the distinct undominated contribution vectors c g(H) sigma (M, P),
    sorted by decreasing row sum, and one N-bit weight code for each."""
    Y, codes = _fc_unit_vectors(np.ascontiguousarray(xi, np.int64), sigma.astype(np.int64), activation == "relu")
    sets = []
    for cval, _ in fc_classes(activation, K):
        V, first = np.unique((cval * Y).astype(np.int16), axis=0, return_index=True)
        order = np.argsort(-V.sum(axis=1, dtype=np.int64), kind="stable")
        V, cd = V[order], codes[first][order]
        if len(V) <= DOMINANCE_MAX:
            keep = _undominated(V)
            V, cd = V[keep], cd[keep]
        sets.append((np.ascontiguousarray(V), cd))
    return sets


def fc_worst_nodes(K: int, N: int, activation: str) -> int:
    """The search's node count when nothing is pruned: every multiset of rows over the units' prefixes,
    with all 2^N vectors of a unit left (an upper bound; duplicates and dominated rows only lower it)."""
    from math import comb

    M = 1 << N
    sizes = [len(units) for _, units in fc_classes(activation, K)]
    total, prefix = 0, 1
    for k in sizes:
        for j in range(1, k + 1):
            total += prefix * comb(M + j - 1, j)
        prefix *= comb(M + k - 1, k)
    return total


def solve_fully_connected(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int,
                          budget: int = 10**12) -> ExactResult:
    """K >= 2 fully connected network (every unit sees all N inputs, weights (K, N) unit-major):
    internal representations over the units' 2^N vectors each, a multiset per class of equal c_l."""
    P, N = xi.shape
    groups = fc_classes(activation, K)
    sets = fc_unit_sets(xi, sigma, activation, K)
    off = np.zeros(len(sets) + 1, np.int64)
    off[1:] = np.cumsum([len(V) for V, _ in sets])
    V = np.ascontiguousarray(np.concatenate([V for V, _ in sets]).astype(np.int16))
    SM = np.empty_like(V)
    for c in range(len(sets)):
        SM[off[c]:off[c + 1]] = np.maximum.accumulate(V[off[c]:off[c + 1]][::-1], axis=0)[::-1]
    cls = np.concatenate([np.full(len(units), c, np.int64) for c, (_, units) in enumerate(groups)])
    rem = np.zeros((K, len(sets)), np.int64)
    for t in range(K):
        for c in range(len(sets)):
            rem[t, c] = int(np.count_nonzero(cls[t + 1:] == c))
    rows = np.full(K, -1, np.int64)
    status, nodes = _fc_search(V, off, SM, cls, rem, np.int64(budget), rows)
    w = None
    if status == SAT:
        W = np.zeros((K, N), np.int8)
        t = 0
        for c, (_, units) in enumerate(groups):
            for l in units:
                W[l] = _weights_of(sets[c][1][rows[t] - off[c]], N)
                t += 1
        w = W.reshape(-1)
    return ExactResult(int(status), w, int(nodes))


def solve(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int, budget: int = 10**12,
          architecture: str = "tree") -> ExactResult:
    """Exact SAT/UNSAT of one training set; a SAT witness is checked with the brute-force energy.

    ``architecture``: tree (weights (N,)) or fully_connected (weights (K N,), unit-major)."""
    if K == 1 and activation == "sign":  # one unit: the two architectures are the same perceptron
        res = solve_perceptron(xi, sigma, budget)
    elif architecture == "fully_connected":
        res = solve_fully_connected(xi, sigma, activation, K, budget)
    else:
        res = solve_tree(xi, sigma, activation, K, budget)
    if res.status == SAT and machine.energy(res.weights, xi, sigma, activation, K, architecture) != 0:
        raise RuntimeError("exact search returned a witness with nonzero energy")
    return res


def brute_force(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int) -> bool:
    """2^N enumeration with ``relusim.models.machine``: the twin the searches are tested against (N <= 20)."""
    P, N = xi.shape
    n = N // K
    c = machine.output_weights(activation, K)
    X = xi.astype(np.int64).reshape(P, K, n)
    for start in range(0, 1 << N, 1 << 14):
        codes = np.arange(start, min(start + (1 << 14), 1 << N), dtype=np.int64)
        W = np.where((codes[:, None] >> np.arange(N)) & 1, -1, 1).astype(np.int64)  # (block, N)
        H = np.einsum("wli,pli->wlp", W.reshape(-1, K, n), X)
        out = np.einsum("l,wlp->wp", c, machine.activate(activation, H))
        if np.any(np.all(sigma[None, :] * out > 0, axis=1)):
            return True
    return False


def brute_force_fully_connected(xi: np.ndarray, sigma: np.ndarray, activation: str, K: int) -> bool:
    """2^(K N) enumeration of the fully connected network through ``relusim.models.machine`` (K N <= 20): the
    twin ``solve_fully_connected`` is tested against. It shares nothing with the search: every weight
    vector of the whole network (H = W_l . xi over all N inputs, g and c_l from ``relusim.models.machine``), no
    unit sets, no symmetry, no pruning."""
    P, N = xi.shape
    D = K * N
    if D > 20:
        raise ValueError(f"brute force over 2^{D} weight vectors: K N <= 20")
    c = machine.output_weights(activation, K)
    X = xi.astype(np.int64)
    for start in range(0, 1 << D, 1 << 12):
        codes = np.arange(start, min(start + (1 << 12), 1 << D), dtype=np.int64)
        W = np.where((codes[:, None] >> np.arange(D)) & 1, -1, 1).astype(np.int64).reshape(-1, K, N)
        out = np.einsum("l,wlp->wp", c, machine.activate(activation, np.einsum("wlj,pj->wlp", W, X)))
        if np.any(np.all(sigma[None, :] * out > 0, axis=1)):
            return True
    return False
