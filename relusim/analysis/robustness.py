"""Robustness of trained committee machines to input flips and to weight noise (docs/algorithms.md §7).

**Input flips** [arXiv:1907.07578, Fig. 3 right]. For a configuration W, a training pattern mu and a
trial t, flip exactly ``m = round(p N)`` distinct input bits (of the N of a pattern) chosen uniformly,
and count an error if ``sigma^mu lambda(xi~^mu) <= 0``. ``P_err(p)`` is the mean over mu and t. With F
the flipped set,

.. math::  H'_{l\\mu} = H_{l\\mu} - 2 \\sum_{i \\in F \\cap \\text{block } l} W_{li}\\,\\xi^\\mu_{li}
           \\quad\\text{(tree)},\\qquad
           H'_{l\\mu} = H_{l\\mu} - 2 \\sum_{j \\in F} W_{lj}\\,\\xi^\\mu_{j}
           \\quad\\text{(fully connected: a flip reaches every unit)}.

**Weight noise** [ours, docs/algorithms.md §7]: binary weights, flip ``round(f K L)`` random weights of
the ``K L`` of W (L = n = N/K for a tree, N fully connected) and record ``E/P``, averaged over trials;
spherical weights, ``W_l' = sqrt(L) (W_l + s |W_l| eta / sqrt(L)) / |.|`` with ``eta ~ N(0, I_L)``,
against ``s``.

Two choices that cost nothing in exactness but a lot in time:

* **nested flip sets**: one partial Fisher-Yates shuffle per (pattern, trial) draws a uniformly
  random ordered sequence of distinct indices; the set flipped at fraction p is its first
  ``round(p N)`` entries. Each p alone is exactly the measurement above; the p-grid costs one pass.
  Neighbouring p share their flips (common random numbers), so the curve is smooth and monotone
  far beyond its statistical error; the error bars over samples are unaffected.
* **shared flips across configurations**: the reference and the y replicas see the same flips, so
  their difference is measured with less noise than their separate errors.

Random streams: pattern mu (trial t for the weight noise) of sample ``index`` draws from
``SeedSequence(seed, spawn_key=(index, tag, mu))`` with the tags below (0 and 1 are the disorder and
dynamics streams of :mod:`relusim.models.instance`), through xoshiro256** with exact (rejection) bounded
integers. Results depend only on (seed, sample, settings), never on threads or workers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numba import njit, prange, uint64

from ..models import activations, machine as model
from ..kernels import gfun
from ..errors import InputError
from ..kernels import rng as _rng
from ..priors import PRIORS

INPUT_FLIP, WEIGHT_NOISE = 2, 3  # spawn-key tags of the robustness streams
SIGN, RELU, TABLE, GFUN = 0, 1, 2, 3  # TABLE: any other g on binary weights, through its fixed-point
# table; GFUN: any other g on real weights, g(h / sqrt n) evaluated (relusim.kernels.gfun)
_LOW32 = uint64(0xFFFFFFFF)


# --- random streams ------------------------------------------------------------------------------

def stream_states(seed: int, index: int, tag: int, count: int) -> np.ndarray:
    """xoshiro256** states (count, 4) from ``SeedSequence(seed, spawn_key=(index, tag, j))``, j < count."""
    return np.stack([_rng.new_state(np.random.SeedSequence(seed, spawn_key=(index, tag, j)))
                     for j in range(count)]) if count else np.zeros((0, 4), np.uint64)


@njit(cache=True)
def below(s, n):
    """An integer exactly uniform in [0, n), n < 2^32: Lemire's multiply-shift with rejection."""
    nn = uint64(n)
    m = (_rng.next_u64(s) >> uint64(32)) * nn
    low = m & _LOW32
    if low < nn:
        t = (uint64(4294967296) - nn) % nn
        while low < t:
            m = (_rng.next_u64(s) >> uint64(32)) * nn
            low = m & _LOW32
    return np.int64(m >> uint64(32))


def check_fractions(values, key: str = "fractions") -> np.ndarray:
    """A non-empty 1-D array of fractions in [0, 1], or InputError."""
    try:
        f = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(key, values, "a non-empty list of numbers in [0, 1]") from None
    if f.ndim != 1 or len(f) == 0 or np.any(~np.isfinite(f)) or np.any(f < 0) or np.any(f > 1):
        raise InputError(key, values, "a non-empty list of numbers in [0, 1]")
    return f


def flip_counts(fractions, N: int) -> np.ndarray:
    """``m = round(f N)`` (half up, as P = round(alpha N)) for each fraction f in [0, 1]."""
    return np.floor(check_fractions(fractions) * N + 0.5).astype(np.int64)


# --- kernels -------------------------------------------------------------------------------------

@njit(inline="always")
def _add_unit(act, gtab, n, cl, h, of, oi):
    """Add unit l's c_l g(h) to the output: to the float of (of, oi) for sign and ReLU, to the exact
    int64 oi from the table gtab[h + n] for a tabled g (binary weights: h is an integer); GFUN: to
    the float, g(h / sqrt n) evaluated with the code, parameter and sqrt(n) held in gtab.view(float64)."""
    if act == TABLE:
        return of, oi + np.int64(cl) * gtab[np.int64(h) + n]
    if act == GFUN:
        gp = gtab.view(np.float64)
        return of + cl * gfun.g(np.int64(gp[0]), gp[1], h / gp[2]), oi
    if act == SIGN:
        return of + cl * (1.0 if h > 0 else (-1.0 if h < 0 else 0.0)), oi
    return of + cl * (h if h > 0 else 0.0), oi


@njit(inline="always")
def _errors_at(H0, dH, mu, c, act, gtab, n, sig, counts_row):
    """counts_row[cc] += [sigma out <= 0] for every configuration cc, fields H0[mu] + dH."""
    K, C = dH.shape
    for cc in range(C):
        of, oi = 0.0, np.int64(0)
        for l in range(K):
            of, oi = _add_unit(act, gtab, n, c[l], H0[mu, l, cc] + dH[l, cc], of, oi)
        if (sig * oi <= 0) if act == TABLE else (sig * of <= 0):
            counts_row[cc] += 1


@njit(cache=True, parallel=True)
def input_flip_kernel(WT, xi, sigma, c, n, act, gtab, H0, ms, trials, states, counts, fc=False):
    """Error counts ``counts[mu, k, cc]`` over ``trials`` nested flip sets of sizes ``ms`` (sorted).

    WT (K L, C) float64 weights of the C configurations; xi (P, N) int8; sigma (P,) int8; c (K,) float64;
    H0 (P, K, C) float64 unperturbed fields; states (P, 4) uint64, one stream per pattern (modified).
    Tree (``fc`` False): input i feeds unit i // n through weight i. Fully connected: input i feeds
    every unit l through weight l N + i.
    """
    C = WT.shape[1]
    P, N = xi.shape
    K = c.shape[0]
    F = ms.shape[0]
    m_max = ms[F - 1]
    for mu in prange(P):
        s = states[mu]
        perm = np.empty(N, np.int64)
        dH = np.empty((K, C), np.float64)
        sig = sigma[mu]
        for t in range(trials):
            for i in range(N):
                perm[i] = i
            dH[:, :] = 0.0
            k = 0
            while k < F and ms[k] == 0:
                _errors_at(H0, dH, mu, c, act, gtab, n, sig, counts[mu, k])
                k += 1
            for j in range(m_max):
                r = j + below(s, N - j)
                i = perm[r]
                perm[r] = perm[j]
                perm[j] = i
                x2 = 2.0 * xi[mu, i]
                if fc:
                    for l in range(K):
                        for cc in range(C):
                            dH[l, cc] -= x2 * WT[l * N + i, cc]
                else:
                    l = i // n
                    for cc in range(C):
                        dH[l, cc] -= x2 * WT[i, cc]
                while k < F and ms[k] == j + 1:
                    _errors_at(H0, dH, mu, c, act, gtab, n, sig, counts[mu, k])
                    k += 1


@njit(cache=True, parallel=True)
def weight_flip_kernel(W, xiT, sigma, c, n, act, gtab, H0, ms, states, counts, fc=False):
    """Training errors ``counts[t, k, cc]`` after flipping nested random sets of ``ms`` weights (sorted).

    W (C, K L) float64; xiT (N, P) float64; H0 (C, K, P) float64; states (T, 4) uint64, one per trial.
    Weight i belongs to unit i // n (n = L: N/K for a tree, N fully connected) and multiplies input i
    (tree) or i mod N (fully connected).
    """
    C, N = W.shape
    P = xiT.shape[1]
    K = c.shape[0]
    F = ms.shape[0]
    m_max = ms[F - 1]
    T = states.shape[0]
    for t in prange(T):
        s = states[t]
        perm = np.arange(N)
        H = H0.copy()
        k = 0
        for j in range(m_max + 1):
            if j > 0:
                r = j - 1 + below(s, N - j + 1)
                i = perm[r]
                perm[r] = perm[j - 1]
                perm[j - 1] = i
                l = i // n
                row = i - l * n if fc else i
                for cc in range(C):
                    w2 = 2.0 * W[cc, i]
                    for mu in range(P):
                        H[cc, l, mu] -= w2 * xiT[row, mu]
            while k < F and ms[k] == j:
                for cc in range(C):
                    e = 0
                    for mu in range(P):
                        of, oi = 0.0, np.int64(0)
                        for l2 in range(K):
                            of, oi = _add_unit(act, gtab, n, c[l2], H[cc, l2, mu], of, oi)
                        if (sigma[mu] * oi <= 0) if act == TABLE else (sigma[mu] * of <= 0):
                            e += 1
                    counts[t, k, cc] = e
                k += 1


# --- public API ----------------------------------------------------------------------------------

def _fields(W: np.ndarray, xi: np.ndarray, K: int, architecture: str = "tree") -> np.ndarray:
    """H[c, l, mu] for every configuration (C, K, P), float64: sum_i W^c_li xi^mu_li over the block of
    unit l (tree) or sum_j W^c_lj xi^mu_j over all inputs (fully connected)."""
    C = W.shape[0]
    P, N = xi.shape
    L = model.fan_in(N, K, architecture)
    Wl = W.reshape(C, K, L).astype(np.float64)
    if architecture == "tree":
        return np.einsum("cli,pli->clp", Wl, xi.reshape(P, K, L).astype(np.float64))
    return Wl @ xi.T.astype(np.float64)


_SHAPES = {"tree": "W (C, N), xi (P, N), sigma (P,), K | N",
           "fully_connected": "W (C, K N), xi (P, N), sigma (P,)"}


def _act(activation: str, W: np.ndarray, K: int, n: int):
    """The kernels' (code, table): sign, ReLU, or a tabled g (binary weights)."""
    spec = activations.parse(activation, "activation")
    if spec.integer:
        return (SIGN if spec.code == activations.SIGN else RELU), np.zeros(1, np.int64)
    if not np.issubdtype(W.dtype, np.integer):  # real fields: g evaluated; integer fields index its table
        p = 0.0 if spec.param != spec.param else spec.param
        return GFUN, np.array([float(spec.code), p, math.sqrt(n)]).view(np.int64)
    return TABLE, activations.binary_table(spec, n, K)[0]


def _check(W, xi, sigma, activation, K, architecture="tree"):
    activations.parse(activation, "activation")
    if architecture not in model.ARCHITECTURES:
        raise InputError("architecture", architecture, "allowed: " + ", ".join(model.ARCHITECTURES))
    W = np.atleast_2d(np.asarray(W))
    N = xi.shape[1]
    if (W.shape[1] != model.n_weights(N, K, architecture) or (architecture == "tree" and N % K)
            or sigma.shape != (xi.shape[0],)):
        raise InputError("shapes", (W.shape, xi.shape, sigma.shape), _SHAPES[architecture])
    return W


def _setup(W, xi, sigma, activation: str, K: int, fractions, trials: int, architecture: str, flipped: str):
    """Checked W (C, K L), C, P, the flip counts round(f M) and the order that sorts them, where M is
    the number of inputs (``flipped="inputs"``) or of weights (``"weights"``)."""
    W = _check(W, xi, sigma, activation, K, architecture)
    if trials < 1:
        raise InputError("trials", trials, "must be >= 1")
    ms = flip_counts(fractions, xi.shape[1] if flipped == "inputs" else W.shape[1])
    return W, W.shape[0], xi.shape[0], ms, np.argsort(ms, kind="stable")


def input_flip_error(W, xi, sigma, activation: str, K: int, fractions, trials: int, seed: int,
                     index: int = 0, architecture: str = "tree") -> np.ndarray:
    """``P_err(p)`` for each configuration (row of W, shape (C, K L)) and fraction: shape (C, F).

    docs/algorithms.md §7: exactly ``round(pN)`` distinct flipped inputs (of the N of a pattern) per
    (pattern, trial), ``trials`` trials per pattern, an error iff ``sigma lambda <= 0``. Fully connected,
    a flipped input changes the field of every unit. Streams of (seed, index) as in the module doc.
    """
    W, C, P, ms, order = _setup(W, xi, sigma, activation, K, fractions, trials, architecture, "inputs")
    counts = np.zeros((P, len(ms), C), np.int64)
    H0 = np.ascontiguousarray(_fields(W, xi, K, architecture).transpose(2, 1, 0))
    n = model.fan_in(xi.shape[1], K, architecture)
    input_flip_kernel(np.ascontiguousarray(W.T, dtype=np.float64), np.ascontiguousarray(xi, dtype=np.int8),
                      np.asarray(sigma, np.int8), model.output_weights(activation, K).astype(np.float64),
                      n, *_act(activation, W, K, n), H0, ms[order], int(trials),
                      stream_states(seed, index, INPUT_FLIP, P), counts, architecture == "fully_connected")
    out = np.empty((C, len(ms)))
    out[:, order] = counts.sum(axis=0).T / (P * trials)
    return out


def weight_flip_error(W, xi, sigma, activation: str, K: int, fractions, trials: int, seed: int,
                      index: int = 0, architecture: str = "tree") -> np.ndarray:
    """Binary weights: mean ``E/P`` after flipping ``round(f K L)`` random weights of the K L, shape (C, F)
    (docs/algorithms.md §7; K L = N for a tree, K N fully connected)."""
    W, C, P, ms, order = _setup(W, xi, sigma, activation, K, fractions, trials, architecture, "weights")
    counts = np.zeros((trials, len(ms), C), np.int64)
    n = model.fan_in(xi.shape[1], K, architecture)
    weight_flip_kernel(W.astype(np.float64), np.ascontiguousarray(xi.T, dtype=np.float64),
                       np.asarray(sigma, np.float64), model.output_weights(activation, K).astype(np.float64),
                       n, *_act(activation, W, K, n),
                       _fields(W, xi, K, architecture), ms[order],
                       stream_states(seed, index, WEIGHT_NOISE, trials), counts, architecture == "fully_connected")
    out = np.empty((C, len(ms)))
    out[:, order] = counts.mean(axis=0).T / P
    return out


def gaussian_weight_error(W, xi, sigma, activation: str, K: int, levels, trials: int, seed: int,
                          index: int = 0, architecture: str = "tree") -> np.ndarray:
    """Spherical weights: mean ``E/P`` of ``W_l' = sqrt(L)(W_l + s|W_l| eta/sqrt(L))/|.|`` (docs/algorithms.md §7).

    Shape (C, S); the same ``eta`` serves every level s of a trial (common random numbers).
    """
    W = _check(W, xi, sigma, activation, K, architecture).astype(np.float64)
    s_ = np.asarray(levels, dtype=np.float64)
    if s_.ndim != 1 or np.any(s_ < 0) or np.any(~np.isfinite(s_)):
        raise InputError("levels", levels, "a list of numbers >= 0")
    C = W.shape[0]
    n = model.fan_in(xi.shape[1], K, architecture)
    c = model.output_weights(activation, K).astype(np.float64)
    err = np.zeros((C, len(s_)))
    for t in range(trials):
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index, WEIGHT_NOISE, t))))
        eta = g.standard_normal((C, K, n))
        Wl = W.reshape(C, K, n)
        norm = np.linalg.norm(Wl, axis=2, keepdims=True)
        for j, s in enumerate(s_):
            Wn = Wl + s * norm * eta / np.sqrt(n)
            Wn *= np.sqrt(n) / np.linalg.norm(Wn, axis=2, keepdims=True)
            H = _fields(Wn.reshape(C, K * n), xi, K, architecture)
            g_ = np.stack([model.activate(activation, Hc, n) for Hc in H])
            out = c[0] * g_[:, 0]
            for l in range(1, K):  # in order, as relusim.models.machine sums
                out = out + c[l] * g_[:, l]
            err[:, j] += np.mean(sigma * out <= 0, axis=1)
    return err / trials


# --- the plain twin (tests only) -----------------------------------------------------------------

def input_flip_error_loop(W, xi, sigma, activation: str, K: int, fractions, trials: int, seed: int,
                          index: int = 0, architecture: str = "tree") -> np.ndarray:
    """Plain loops over patterns, trials and fractions with the brute-force model: the twin of
    :func:`input_flip_error`, drawing the very same flips (same streams, same Fisher-Yates order)."""
    W = np.atleast_2d(W)
    C = W.shape[0]
    P, N = xi.shape
    ms = flip_counts(fractions, N)
    states = stream_states(seed, index, INPUT_FLIP, P)
    errors = np.zeros((C, len(ms)))
    for mu in range(P):
        s = states[mu]
        for _ in range(trials):
            perm = np.arange(N)
            for j in range(ms.max()):
                r = j + below(s, N - j)
                perm[j], perm[r] = perm[r], perm[j]
            for k, m in enumerate(ms):
                x = xi[mu].copy()
                x[perm[:m]] *= -1
                for cc in range(C):
                    out = model.integer_output(W[cc], x[None, :], activation, K, architecture)[0]
                    errors[cc, k] += sigma[mu] * out <= 0
    return errors / (P * trials)


# --- one sample ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleRobustness:
    """Curves of one sample: row 0 the reference (or the single system), rows 1.. the replicas."""

    input_flip: np.ndarray  # (C, F)
    weight_noise: np.ndarray | None  # (C, W)


def sample_configurations(weights: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """The configurations measured: [reference, replica 1..y] when replicated, else [the machine]."""
    return weights if reference is None else np.concatenate([reference[None, :], weights])


def measure_sample(weights, reference, xi, sigma, activation: str, K: int, *, fractions, trials: int,
                   seed: int, index: int, noise_levels=None, noise_trials: int | None = None,
                   architecture: str = "tree", noise: str = "weight_flip") -> SampleRobustness:
    """Input-flip (and weight-noise, if ``noise_levels``) curves of one stored sample; ``noise`` names the
    weight noise of its prior (``NOISE_MODELS``, a prior's ``NOISE``)."""
    Wc = sample_configurations(np.asarray(weights), None if reference is None else np.asarray(reference))
    inp = input_flip_error(Wc, xi, sigma, activation, K, fractions, trials, seed, index, architecture)
    wn = None
    if noise_levels is not None and len(noise_levels):
        nt = noise_trials or trials
        wn = NOISE_MODELS[noise].error(Wc, xi, sigma, activation, K, noise_levels, nt, seed, index, architecture)
    return SampleRobustness(inp, wn)


def _check_levels(levels) -> None:
    if np.any(np.asarray(levels, dtype=float) < 0):
        raise InputError("weight-noise", levels, "relative noise levels s >= 0")


@dataclass(frozen=True)
class NoiseModel:
    """A weight noise (docs/algorithms.md §7): its curve (shape (C, levels)), the check of its levels,
    and its description in ``/robustness/weight_noise``."""

    error: Callable
    check: Callable
    model: str


NOISE_MODELS = {
    "weight_flip": NoiseModel(weight_flip_error, lambda levels: check_fractions(levels, "weight-noise"),
                              "binary: flip round(f N) random weights, E/P"),
    "gaussian": NoiseModel(gaussian_weight_error, _check_levels,
                           "spherical: W_l' = sqrt(n)(W_l + s|W_l| eta/sqrt(n))/|.|, E/P"),
}


# --- result files (CONTRACT.md, /robustness) ------------------------------------------------------

GROUP = "robustness"
METHOD = "nested flip sets, xoshiro256** per pattern/trial, tags (2, 3); relusim.robustness v1"


@dataclass(frozen=True)
class Settings:
    """What determines the content of ``/robustness``: equal settings make a rerun a no-op."""

    fractions: tuple[float, ...]
    trials: int
    noise_levels: tuple[float, ...]  # empty: no weight-noise measurement
    samples: tuple[int, ...]
    seed: int

    def key(self) -> str:
        import json

        return json.dumps({"fractions": list(self.fractions), "trials": self.trials,
                           "noise_levels": list(self.noise_levels), "samples": list(self.samples),
                           "seed": self.seed, "method": METHOD}, sort_keys=True)


def read_run(path) -> dict:
    """The model of a result file and its complete samples: {activation, weights, K, seed, samples: [...]}."""
    from ..storage.results import open_results, reading, stored_config

    # the samples are checked; a stale or damaged /robustness is not used, and replaced (measure_file)
    with open_results(path, robustness=False) as f, reading(path):
        cfg = stored_config(f, path)
        samples = []
        for name in sorted(f["samples"]):
            g = f["samples"][name]
            if g.attrs.get("status") != "complete":
                continue
            samples.append({"index": int(g.attrs["index"]), "weights": g["weights"][()],
                            "reference": g["reference"][()] if "reference" in g else None,
                            "patterns": g["patterns"][()], "labels": g["labels"][()],
                            "solved": bool(g.attrs["solved"])})
    if not samples:
        raise InputError("RESULTS", str(path), "holds no finished sample yet")
    return {"config": cfg, "activation": cfg["model"]["activation"], "weights": cfg["model"]["weights"],
            "K": int(cfg["model"]["K"]), "seed": int(cfg["seed"]), "samples": samples}


def run_activation(path) -> str:
    """The activation of a result file's config (for colours and labels)."""
    from ..storage.results import open_results, reading, stored_config

    with open_results(path, verify=False) as f, reading(path):
        return stored_config(f, path)["model"]["activation"]


def stored_settings(path) -> str | None:
    """The settings of the stored ``/robustness``, or None when there is none or it fails its seal
    (damaged, or measured samples the file no longer holds: it is measured again)."""
    import h5py

    from ..storage.results import audit, reading

    with reading(path), h5py.File(path, "r") as f:
        if GROUP not in f or audit(f, deep=False).robustness is not None:
            return None
        return f[GROUP].attrs.get("settings")


def measure_file(path, fractions, trials: int, noise_levels=(), progress=None,
                 over: str = "solved") -> tuple[bool, dict]:
    """Measure every finished sample of ``path`` and write ``/robustness`` (atomically, copy-on-write).

    Returns (written, curves): ``written`` is False when the stored group has the same settings (a no-op).
    ``progress``: optional callable wrapping the iterable of samples (a tqdm bar). Every sample is
    measured and stored; the curves returned average over ``over`` (:func:`read_curves`).
    """
    run = read_run(path)
    check_fractions(fractions, "flips")
    noise = PRIORS[run["weights"]].NOISE
    if len(noise_levels):
        NOISE_MODELS[noise].check(noise_levels)
    st = Settings(tuple(float(x) for x in fractions), int(trials), tuple(float(x) for x in noise_levels),
                  tuple(s["index"] for s in run["samples"]), run["seed"])
    if stored_settings(path) == st.key():
        return False, read_curves(path, over)
    rows = []
    it = run["samples"] if progress is None else progress(run["samples"])
    for s in it:
        rows.append(measure_sample(s["weights"], s["reference"], s["patterns"], s["labels"], run["activation"],
                                   run["K"], fractions=st.fractions, trials=st.trials, seed=st.seed,
                                   index=s["index"], noise_levels=st.noise_levels or None,
                                   architecture=run["config"]["model"].get("architecture", "tree"), noise=noise))
    replicated = run["samples"][0]["reference"] is not None
    _write_group(path, st, rows, replicated, NOISE_MODELS[noise].model, [s["solved"] for s in run["samples"]])
    return True, read_curves(path, over)


def _write_group(path, st: Settings, rows: list[SampleRobustness], replicated: bool, noise_model: str,
                 solved: list[bool]) -> None:
    """Replace ``/robustness`` the way :mod:`relusim.storage.results` changes a result file: copy, modify, fsync, replace."""
    import shutil
    from pathlib import Path

    import h5py

    from .. import __version__
    from ..storage.results import _fsync_replace, check_space, seal_derived, temp_path

    path = Path(path)
    check_space(path, path.stat().st_size + (1 << 20))
    tmp = temp_path(path, "robustness")
    try:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            if GROUP in f:
                del f[GROUP]
            g = f.create_group(GROUP)
            g.attrs.update({"settings": st.key(), "relusim_version": __version__, "method": METHOD})
            g.create_dataset("samples", data=np.array(st.samples, np.int64))
            g.create_dataset("solved", data=np.array(solved, np.bool_))
            inp = np.stack([r.input_flip for r in rows])  # (S, C, F)
            gi = g.create_group("input_flip")
            gi.attrs["trials"] = st.trials
            gi.create_dataset("fractions", data=np.array(st.fractions))
            gi.create_dataset("error", data=inp[:, 0])
            if replicated:
                gi.create_dataset("error_replicas", data=inp[:, 1:])
            if st.noise_levels:
                wn = np.stack([r.weight_noise for r in rows])
                gw = g.create_group("weight_noise")
                gw.attrs["trials"] = st.trials
                gw.attrs["model"] = noise_model
                gw.create_dataset("levels", data=np.array(st.noise_levels))
                gw.create_dataset("error", data=wn[:, 0])
                if replicated:
                    gw.create_dataset("error_replicas", data=wn[:, 1:])
            seal_derived(f, g)  # bound to the digests of the samples measured; outside the manifest
        _fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Curve:
    """Mean and standard error over samples of an error curve; replicas are first averaged per sample."""

    x: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    n_samples: int


def _curve(x, per_sample: np.ndarray) -> Curve:
    S = per_sample.shape[0]
    sem = per_sample.std(axis=0, ddof=1) / np.sqrt(S) if S > 1 else np.full(per_sample.shape[1], np.nan)
    return Curve(np.asarray(x), per_sample.mean(axis=0), sem, S)


SUBSETS = ("solved", "unsolved", "all")


def read_curves(path, over: str = "solved") -> dict:
    """``{"input_flip": {"reference"|"machine": Curve, "replicas": Curve}, "weight_noise": {...}}`` from a file.

    ``over`` picks the samples averaged: ``"solved"`` (the default: an unsolved sample is not a
    solution, and its training errors at p = 0 would be mixed into the curve), ``"unsolved"`` or
    ``"all"``. A kind with no sample in the subset is left out.
    """
    import h5py

    if over not in SUBSETS:
        raise InputError("over", over, f"allowed: {', '.join(SUBSETS)}")
    from ..storage.results import reading

    out: dict = {}
    with reading(path), h5py.File(path, "r") as f:
        if GROUP not in f:
            return out
        g = f[GROUP]
        solved = g["solved"][()] if "solved" in g else None
        for kind, xname in (("input_flip", "fractions"), ("weight_noise", "levels")):
            if kind not in g:
                continue
            x = g[kind][xname][()]
            n = g[kind]["error"].shape[0]
            keep = np.ones(n, bool) if over == "all" or solved is None else (solved if over == "solved" else ~solved)
            if not keep.any():
                continue
            d = {}
            if "error_replicas" in g[kind]:
                d["reference"] = _curve(x, g[kind]["error"][()][keep])
                d["replicas"] = _curve(x, g[kind]["error_replicas"][()][keep].mean(axis=1))
            else:
                d["machine"] = _curve(x, g[kind]["error"][()][keep])
            out[kind] = d
    return out


def solved_counts(path) -> tuple[int, int]:
    """(solved, unsolved) among the samples that ``/robustness`` measured."""
    import h5py

    from ..storage.results import reading

    with reading(path), h5py.File(path, "r") as f:
        if GROUP not in f or "solved" not in f[GROUP]:
            return 0, 0
        s = f[GROUP]["solved"][()]
    return int(s.sum()), int((~s).sum())
