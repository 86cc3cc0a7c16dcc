"""Binary weights W_i = +-1 (docs/model.md §2): the prior behind ``model.weights: binary``.

Single flips sampled with Metropolis, RRR or their hybrid (``relusim.kernels.replicated``), on the
error count or on the least-action cost (docs/algorithms.md §10, ``relusim.kernels.least_action``);
a robust ensemble with an explicit or a traced reference (docs/model.md §7). After the anneal, the
equilibrium over solutions (``equilibrate``) is sampled for this prior only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..models import activations, measure, machine
from ..config import Config
from ..kernels import detmath, fields, least_action, metropolis, records, replicated
from ..kernels import rng as _rng
from ..protocol import feedback, schedule, stop_rule

EXACT_SEARCH = True  # relusim capacity --method exact: the complete search (relusim.capacity.exact) is for +-1 weights
NOISE = "weight_flip"  # the weight noise of ``relusim robustness`` (relusim.analysis.robustness.NOISE_MODELS)
# Default --alpha grids of relusim capacity, wide enough to hold the whole transition at small N and at
# the anneal's N (measured: docs/results/capacity.md): the binary perceptron's 50% points fall from 0.88
# (N = 15) towards 0.833; sign trees sit near 0.9-1.0; ReLU trees far lower at small K (the K = 2 50%
# point is about 0.4 at N <= 30), rising towards 0.904 only as K -> infinity.
# Any other activation: the union of the two (its binary RS capacity lies in 0.83-1.0, docs/theory.md §9).
# Fully connected, K > 1: per weight, sign K = 3 from 0.47 (15 weights) to 0.76 (39), ReLU K = 2
# 0.41-0.57 (docs/results/capacity.md, "Fully connected networks"): the wide grid of "other".
DEFAULT_ALPHA = {"perceptron": "0.60:1.10:0.02", "sign": "0.50:1.30:0.04", "relu": "0.16:1.20:0.04",
                 "other": "0.16:1.30:0.04", "fully_connected": "0.16:1.30:0.04"}
THEORY_LABEL = {
    "perceptron": "RS zero entropy, K = 1 (Krauth-Mezard)",
    "sign": "RS zero entropy, K -> infinity (sign)",
    "relu": "RS zero entropy, K -> infinity (ReLU)",
}


@dataclass
class Chain:
    """The mutable state of y machines (and their reference): weights, caches, energies, random stream."""

    w: np.ndarray  # (y, N) int8
    H: np.ndarray  # (y, K, Pp) int16
    marg: np.ndarray  # (y, Pp) int16
    E: np.ndarray  # (y,) int64
    ref: np.ndarray  # (N,) int8; empty unless an explicit reference is sampled
    m: np.ndarray  # (N,) int16, sum of the replicas
    rng: np.ndarray  # xoshiro256** state
    hyb: np.ndarray = field(default_factory=replicated.hybrid_state)  # the RRR/Metropolis choice of the stage
    log_c: float = 0.0  # the q1 feedback's log factor on gamma when the anneal ended (``Blocks.finish``)

    @property
    def state(self) -> records.State:
        """The kernels' record of this chain (the same arrays: kernels update the chain in place)."""
        return records.State(self.w, self.H, self.marg, self.E, self.ref, self.m, self.rng)


def act_code(activation: str, n: int) -> int:
    """The kernels' activation code of a config's activation: SIGN_ODD for sign units with n = N/K odd
    (never a zero field), TABLE for every g but sign and ReLU (``relusim.kernels.fields``)."""
    spec = activations.parse(activation)
    if spec.code == activations.RELU:
        return fields.RELU
    if spec.code == activations.SIGN:
        return fields.SIGN_ODD if n % 2 else fields.SIGN
    return fields.TABLE


def gtable(activation: str, n: int, K: int) -> np.ndarray:
    """Problem.gtab: the fixed-point table of g for TABLE (``activations.binary_table``), else one 0."""
    spec = activations.parse(activation)
    if spec.integer:
        return np.zeros(1, np.int64)
    return activations.binary_table(spec, n, K)[0]


def _mode(cfg: Config) -> int:
    if cfg.ensemble.replicas == 1:
        return metropolis.NONE
    return metropolis.EXPLICIT if cfg.ensemble.reference == "explicit" else metropolis.TRACED


def problem(cfg: Config, xi: np.ndarray, sigma: np.ndarray) -> records.Problem:
    """The kernels' record of patterns xi (P, N) and labels sigma under ``cfg.model`` (readout, fan-in,
    activation code)."""
    m = cfg.model
    return fields.problem(xi, sigma, machine.output_weights(m.activation, m.K), m.n,
                          act_code(m.activation, m.n), gtable(m.activation, m.n, m.K))


def start(cfg: Config, problem: records.Problem, dynamics: np.random.SeedSequence) -> Chain:
    """Independent uniformly random replicas (and reference), docs/model.md §8.1, from the dynamics stream."""
    m_, y = cfg.model, cfg.ensemble.replicas
    g = np.random.Generator(np.random.PCG64(dynamics.spawn(1)[0]))
    nw = m_.weights_count
    w = (2 * g.integers(0, 2, size=(y, nw), dtype=np.int8) - 1).astype(np.int8)
    ref = np.zeros(0, np.int8)
    if _mode(cfg) == metropolis.EXPLICIT:
        ref = (2 * g.integers(0, 2, size=nw, dtype=np.int8) - 1).astype(np.int8)
    st = fields.new_state(problem, w, ref, _rng.new_state(dynamics))
    return Chain(st.w, st.H, st.marg, st.E, st.ref, st.m, st.rng)


def kernel_key(cfg: Config) -> tuple[int, int, int]:
    """The compiled driver a ``cfg`` on the error count runs (``replicated.kernel_key``), from the config
    alone (the least-action energy runs ``least_action.driver(act, bits)``: ``driver``)."""
    m, a = cfg.model, cfg.anneal
    return replicated.kernel_key(act_code(m.activation, m.n), m.n, fields.padded(m.P), _mode(cfg),
                                 a.sampler == "rrr", replicated.BITS_BELOW, a.rrr_below)


def driver(cfg: Config):
    """The compiled schedule driver (a numba dispatcher) ``cfg`` runs; nothing is compiled to find it."""
    if cfg.anneal.energy == "least_action":
        act = act_code(cfg.model.activation, cfg.model.n)
        return least_action.driver(act, least_action.uses_bits(act, cfg.model.K))
    return replicated.driver(*kernel_key(cfg))


class Blocks:
    """The binary side of one anneal (``relusim.anneal.anneal``): blocks of sweeps through
    ``replicated.run`` (Metropolis, RRR, the hybrid), or ``least_action.run`` on exp(-beta L) with the
    error count E kept beside it (docs/algorithms.md §10).

    Trace entries per record, after the common ones: ``rrr`` the fraction of the block's sweeps done
    with RRR, ``cost`` the least-action L of every replica (when annealed), ``reference_overlap``
    p_a = Wt . W^a / N (explicit reference), exact in float64 (an integer dot product).
    """

    def __init__(self, cfg: Config, problem: records.Problem, chain: Chain, betas: np.ndarray, gammas: np.ndarray):
        a, e = cfg.anneal, cfg.ensemble
        sweeps = len(betas)
        q1 = np.nan if e.target_overlap is None else e.target_overlap
        self.problem, self.chain, self.nw = problem, chain, cfg.model.weights_count
        self.used_rrr = np.zeros(sweeps, np.bool_)
        self.ctl = replicated.control(_mode(cfg), a.sampler == "rrr", a.rrr_below, replicated.BITS_BELOW,
                                      stop_rule(cfg), q1, e.overlap_tolerance)
        self.la = least_action.new(problem, chain.state) if a.energy == "least_action" else None
        if self.la is not None:
            self.costs = np.zeros((sweeps, e.replicas), np.int64)
        self.explicit = len(chain.ref) > 0
        self.trace = {"rrr": np.float64, **({"cost": np.int64} if self.la is not None else {}),
                      **({"reference_overlap": np.float64} if self.explicit else {})}

    def run(self, s: int, betas: np.ndarray, gammas: np.ndarray, energies: np.ndarray, accepted: np.ndarray,
            qbar: np.ndarray) -> int:
        """Sweeps s, s + 1, ... at (betas, gammas); after each, its row of energies, accepted, qbar.
        Returns the sweeps done (fewer only when solved)."""
        ch = self.chain
        out = records.Trace(energies[s:], accepted[s:], qbar[s:], self.used_rrr[s:])
        if self.la is None:
            return replicated.run(self.problem, ch.state, betas, gammas, self.ctl, out, ch.hyb)
        return least_action.run(self.problem, ch.state, self.la, betas, gammas, self.ctl, out, self.costs[s:], ch.hyb)

    def record(self, s: int, done: int) -> list:
        """This prior's trace entries (``self.trace``, in order) after sweeps s .. s + done - 1."""
        ch = self.chain
        out = [float(self.used_rrr[s:s + done].mean())]
        if self.la is not None:
            out.append(self.la.L.copy())
        if self.explicit:
            out.append(ch.w.astype(np.int64) @ ch.ref.astype(np.int64) / self.nw)
        return out

    def annealed(self) -> np.ndarray:
        """The energy the sampler anneals, per replica: the least-action L, or the error count E."""
        return (self.chain.E if self.la is None else self.la.L).copy()

    def finish(self, index: int, log_c: float) -> None:
        """The cached least-action costs against a rebuild from the fields (themselves checked against
        the brute-force model's energy in ``relusim.anneal.measure_sample``); keeps the feedback's
        log factor for ``equilibrate``."""
        if self.la is not None:
            cached = self.la.L.copy()
            for a_ in range(self.chain.w.shape[0]):
                least_action.build(self.problem, self.chain.state, self.la, a_)
            if not np.array_equal(cached, self.la.L):
                raise RuntimeError(f"sample {index}: cached least-action costs {cached} != rebuilt {self.la.L}")
        self.chain.log_c = log_c


def reference(chain: Chain) -> tuple[np.ndarray, str]:
    """The centre of the ensemble and what it is: the sampled reference, or for a traced ensemble (no
    sampled centre) the majority vote of the replicas, which stands in for it."""
    if len(chain.ref):
        return chain.ref.copy(), "sampled"
    return np.where(chain.m >= 0, 1, -1).astype(np.int8), "majority of the replicas"


def overlaps(W: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """p_a = ref . W^a / N, exact in float64 (an integer dot product)."""
    return W.astype(np.int64) @ ref.astype(np.int64) / W.shape[1]


def witness(w: np.ndarray) -> np.ndarray:
    """What relusim capacity keeps of a solution: the +-1 weights themselves."""
    return w.copy()


def default_alpha(activation: str, Ks: Sequence[int], architecture: str) -> str:
    """The ``--alpha`` grid of relusim capacity (``DEFAULT_ALPHA``): by activation, the finer perceptron
    grid when K = 1 is the only K, the wide grid of ``fully_connected`` for fully connected networks."""
    if activation == "sign" and tuple(Ks) == (1,):
        return DEFAULT_ALPHA["perceptron"]
    if architecture == "fully_connected":
        return DEFAULT_ALPHA["fully_connected"]
    return DEFAULT_ALPHA.get(activation, DEFAULT_ALPHA["other"])


def capacity_theory(activation: str, K: int) -> dict | None:
    """The RS zero-entropy capacity of a tree (docs/theory.md): K = 1 the perceptron, else K -> infinity."""
    from ..theory import rs  # SciPy, ~0.7 s: only where a capacity table is made
    from ..theory.activations import perceptron

    act = perceptron() if K == 1 else activation
    name = "perceptron" if K == 1 else activation
    return {"alpha": float(rs.capacity_rs_binary(act).alpha), "label": THEORY_LABEL[name]}


def equilibrate(cfg: Config, problem, chain: Chain, inst, index: int,
                use_rrr: bool | None = None) -> tuple[dict, dict]:
    """Sample the robust ensemble over solutions in equilibrium; return (datasets, attributes).

    Starts from the anneal's last state, which must have every replica at E = 0. With
    ``anneal.equilibrium.steer`` = T > 0, first T sweeps at beta = inf during which the anneal's q1
    feedback goes on (c += gamma_gain (q1 - q-bar) after every ``every`` sweeps, both ways), nothing
    recorded: at the gamma where the anneal stopped, the equilibrium over solutions has q-bar near 1
    (measured on Fig. 3: 0.99), not q1, since the anneal stops on its way there. Then
    ``anneal.equilibrium.sweeps`` sweeps at beta = inf and gamma = the final gamma times the q1
    feedback factor exp(c) where the steering (or the anneal) left it, frozen. An adaptation that
    stops after a finite time leaves a time-homogeneous chain, exact for its gamma (as the RRR hybrid,
    relusim.kernels.replicated). With beta = inf a
    proposal that makes a replica's E > 0 has acceptance exp(-inf) = 0 (``metropolis.fill_etab``)
    and is rejected exactly, and every other proposal is the anneal's Metropolis move of the
    coupling alone; so the chain samples, exactly, the coupled measure restricted to solutions,
        P(W^1..W^y, W~) ∝ prod_a 1[E(W^a) = 0] exp(gamma sum_a W^a . W~)   (explicit reference),
    the reference traced out for ``reference: traced``, and flat over solutions for y = 1 (gamma 0).
    It is irreducible only on the set of solutions reachable by single flips from the start, as
    any single-flip sampler at beta = inf. The sampler is RRR from the first sweep (not the hybrid)
    except for the traced ensemble, which has Metropolis only: at beta = inf in the Fig. 3 runs a
    Metropolis proposal is accepted with probability ~2e-6, and RRR (docs/model.md §7; exact, tests/
    test_hybrid_exact.py) draws only moves with a non-zero acceptance, error moves having p = 0.
    Either way the chain is time-homogeneous from the first sweep. A sweep is N (y + 1) (explicit)
    or N y steps of either sampler, so autocorrelation times in sweeps are not comparable between them.

    Records, after every ``every`` sweeps (``sweeps // every`` records; trailing sweeps are run too):
      equilibrium_weights (R, y, weights) int8 and, y > 1, equilibrium_reference (R, weights) int8;
      equilibrium_stabilities (R, y, P) float64, the replicas' Delta^mu (``measure.stabilities``);
      equilibrium_reference_stabilities (R, P), the reference's (the majority vote for a traced
      ensemble), y > 1 only; equilibrium_overlap (sweeps,) the q-bar after every sweep, y > 1 only;
      equilibrium_steer_overlap (T,) the q-bar after every steering sweep, when T > 0.
    Attributes: the gamma used, the mean acceptance, and the integrated autocorrelation time
    (``measure.integrated_autocorrelation_time``, Sokal's window) of q-bar (per sweep) and of the
    mean replica stability (per record, converted to sweeps), in sweeps.
    """
    a, e, m = cfg.anneal, cfg.ensemble, cfg.model
    q = a.equilibrium
    y = e.replicas
    if chain.E.max() != 0:
        raise RuntimeError(f"sample {index}: equilibrium sampling needs every replica solved, E = {chain.E}")
    _, gammas = schedule(cfg)
    # RRR wherever it runs (not the traced ensemble): at the Fig. 3 settings a Metropolis proposal is
    # accepted with probability ~2e-6 at beta = inf, and RRR picks only moves that can be accepted.
    # Forced from the first sweep (rrr_below > 1), so the chain is time-homogeneous.
    use_rrr = _mode(cfg) != metropolis.TRACED if use_rrr is None else use_rrr  # tests and benchmarks may choose
    ctl = replicated.control(_mode(cfg), use_rrr, 2.0 if use_rrr else -1.0, replicated.BITS_BELOW, False)
    log_c = chain.log_c
    steer_q = np.full(q.steer, np.nan)
    s = 0
    while s < q.steer:  # the anneal's feedback, both ways, at beta = inf; nothing recorded
        n = min(q.every, q.steer - s)
        out = records.Trace(np.zeros((n, y), np.int64), np.zeros(n, np.int64), steer_q[s:], np.zeros(n, np.bool_))
        g = np.full(n, gammas[-1] * detmath.exp(log_c))
        if replicated.run(problem, chain.state, np.full(n, np.inf), g, ctl, out, chain.hyb) != n or chain.E.max():
            raise RuntimeError(f"sample {index}: equilibrium steering left the solutions (E = {chain.E})")
        half = steer_q[s + n // 2:s + n]
        s += n
        log_c = feedback(log_c, e.gamma_gain, e.target_overlap, half)
    gamma = float(gammas[-1] * detmath.exp(log_c)) if y > 1 else 0.0
    R = q.sweeps // q.every
    P = inst.xi.shape[0]
    stab = np.zeros((R, y, P))
    ref_stab = np.zeros((R, P))
    ws = np.zeros((R, y, m.weights_count), np.int8)
    refs = np.zeros((R, m.weights_count), np.int8)
    qbar = np.full(q.sweeps, np.nan)
    energies = np.zeros((q.sweeps, y), np.int64)
    accepted = np.zeros(q.sweeps, np.int64)
    used_rrr = np.zeros(q.sweeps, np.bool_)
    s, r = 0, 0
    while s < q.sweeps:
        n = min(q.every, q.sweeps - s)
        out = records.Trace(energies[s:], accepted[s:], qbar[s:], used_rrr[s:])
        done = replicated.run(problem, chain.state, np.full(n, np.inf), np.full(n, gamma), ctl, out, chain.hyb)
        if done != n or chain.E.max() != 0 or (used_rrr[s:s + n] != use_rrr).any():
            raise RuntimeError(f"sample {index}: equilibrium sweep left the solutions (E = {chain.E})")
        s += n
        if n == q.every:
            ws[r] = chain.w
            stab[r] = measure.stabilities(chain.w, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
            if y > 1:
                ref, _ = reference(chain)
                refs[r] = ref
                ref_stab[r] = machine.stabilities(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
            r += 1
    energy = np.array([machine.energy(w, inst.xi, inst.sigma, m.activation, m.K, m.architecture) for w in chain.w])
    if energy.max() != 0:
        raise RuntimeError(f"sample {index}: equilibrium ended off the solutions (recomputed E = {energy})")
    nv = m.weights_count * (y + 1 if len(chain.ref) else y)
    tau_s, _ = measure.integrated_autocorrelation_time(stab.mean(axis=(1, 2)))
    attrs = {"equilibrium": "sampled", "equilibrium_gamma": gamma, "equilibrium_sweeps": q.sweeps,
             "equilibrium_steer": q.steer,
             "equilibrium_every": q.every, "equilibrium_acceptance": float(accepted.sum() / (nv * q.sweeps)),
             "equilibrium_tau_stability_sweeps": tau_s * q.every}
    datasets = {"equilibrium_weights": ws, "equilibrium_stabilities": stab}
    if y > 1:
        tau_q, _ = measure.integrated_autocorrelation_time(qbar)
        attrs["equilibrium_tau_overlap_sweeps"] = tau_q
        datasets["equilibrium_reference"] = refs
        datasets["equilibrium_reference_stabilities"] = ref_stab
        datasets["equilibrium_overlap"] = qbar
        if q.steer:
            datasets["equilibrium_steer_overlap"] = steer_q
    return datasets, attrs
