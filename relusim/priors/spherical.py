"""Spherical weights |W_l|^2 = n per unit (docs/model.md §2): the prior behind ``model.weights: spherical``.

The moves are rotations of two coordinates of one unit (docs/algorithms.md §4,
``relusim.kernels.spherical_mc``), on the error count or the perceptron cost (§4.1), with float64 or
float32 fields (§4.2); the robust ensemble has an explicit reference on its own spheres with the
coupling gamma sum_a sum_l Wt_l . W^a_l / n. theta_max (``anneal.step``) adapts only after sweeps whose
(beta, gamma) schedule point differs from the next one's, so every stretch of constant (beta, gamma)
is sampled by one fixed, exact kernel.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..models import activations, machine
from ..config import Config
from ..errors import RunError
from ..kernels import spherical, spherical_mc
from ..kernels import rng as _rng
from ..protocol import stop_rule

EXACT_SEARCH = False  # no complete search over real weights: relusim capacity --method anneal
NOISE = "gaussian"  # the weight noise of ``relusim robustness`` (relusim.analysis.robustness.NOISE_MODELS)
# Default --alpha grids of relusim capacity: the perceptron's transition sits at 2 (Cover, Gardner);
# trees between 1 and 4.
DEFAULT_ALPHA = {"perceptron": "1.6:2.4:0.1", "tree": "1.0:4.0:0.25"}
THEORY_LABEL = {
    "perceptron": "spherical perceptron, K = 1 (Gardner; Cover)",
    "sign": "spherical sign, (16/pi) sqrt(ln K), K >> 1 (Monasson-Zecchina)",
    "other": "spherical RS, K -> infinity ({act})",
}


def _mode(cfg: Config) -> int:
    return spherical_mc.NONE if cfg.ensemble.replicas == 1 else spherical_mc.EXPLICIT


def act_code_param(activation: str) -> tuple[int, float]:
    """(code, p) of an activation (``relusim.models.activations.parse``: a name or label such as
    ``relu_shift(shift=0.5)``, ``erf(scale=2)``): its kernel code and parameter (0 when it has none)."""
    spec = activations.parse(activation)
    return spec.code, (0.0 if spec.param != spec.param else float(spec.param))


def act_code(activation: str) -> int:
    """The code of an activation name (real fields are never 0, so sign needs no odd-n variant)."""
    return act_code_param(activation)[0]


def problem_arrays(xi: np.ndarray, sigma: np.ndarray, c: np.ndarray, n: int, activation: str,
                   param: float | None = None, cost: str = "errors") -> spherical.Problem:
    """The kernels' record of a training set for an activation named as in a config
    (``spherical.problem_record``); ``param`` overrides the activation's default parameter
    (``act_code_param``); ``cost`` the annealed energy (``spherical.COSTS``; perceptron: sign and
    ReLU only)."""
    if param is None:
        code, p = act_code_param(activation)
    else:  # a family name with its parameter given apart: ("relu_shift", 0.5)
        code, p = activations.parse(activation.split("(")[0] + f"({float(param)!r})").code, float(param)
    if spherical.COSTS[cost] == spherical.PERCEPTRON and code not in (spherical.SIGN, spherical.RELU):
        raise ValueError(f"the perceptron cost is defined for sign and ReLU units, not {activation}")
    return spherical.problem_record(xi, sigma, c, n, code, p, spherical.COSTS[cost])


def problem(cfg: Config, xi: np.ndarray, sigma: np.ndarray) -> spherical.Problem:
    """The kernels' record of training set (xi, sigma) for the model and annealed energy of ``cfg``."""
    m = cfg.model
    return problem_arrays(xi, sigma, machine.output_weights(m.activation, m.K), m.n, m.activation,
                                    cost=cfg.anneal.energy)


def start(cfg: Config, problem: spherical.Problem, dynamics: np.random.SeedSequence) -> spherical.State:
    """Independent replicas (and reference) uniform on their spheres, from the dynamics stream."""
    m_, y = cfg.model, cfg.ensemble.replicas
    g = np.random.Generator(np.random.PCG64(dynamics.spawn(1)[0]))
    nw = m_.weights_count
    u = 1.0 - g.random((y + 1, nw))  # (0, 1]: log(u) finite
    W = spherical.gaussian_sphere(u, m_.n)
    ref = W[y].copy() if _mode(cfg) == spherical_mc.EXPLICIT else np.zeros(0)
    st = spherical.new_state(W[:y], ref, m_.P, m_.K, _rng.new_state(dynamics), cfg.anneal.precision)
    spherical_mc.rebuild(problem, st, _mode(cfg))
    return st


def kernel_key(cfg: Config) -> tuple[int, bool]:
    """The compiled driver ``cfg`` runs (``spherical_mc.loop_key``), from the config alone."""
    return spherical_mc.loop_key(act_code(cfg.model.activation), spherical.COSTS[cfg.anneal.energy])


def driver(cfg: Config):
    """The compiled schedule driver (a numba dispatcher) ``cfg`` runs; nothing is compiled to find it."""
    return spherical_mc.driver(*kernel_key(cfg))


def theta_start(cfg: Config) -> float:
    t = cfg.anneal.step.theta_max
    return spherical_mc.default_theta(cfg.model.n) if t is None else float(t)


def adapt_flags(cfg: Config, betas: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    """adapt[s]: the schedule point of sweep s + 1 differs from that of sweep s (never at the end)."""
    out = np.zeros(len(betas), np.bool_)
    if cfg.anneal.step.adapt:
        out[:-1] = (betas[1:] != betas[:-1]) | (gammas[1:] != gammas[:-1])
    return out


class Blocks:
    """The spherical side of one anneal (``relusim.anneal.anneal``): blocks of rotation sweeps through
    ``spherical_mc.run``, theta_max adapted between schedule points (``adapt_flags``).

    Trace entries per record, after the common ones: ``rrr`` 0.0 (as binary files: the fraction of RRR
    sweeps; spherical weights have Metropolis only), ``theta_max`` the step of the block's last sweep,
    ``reference_overlap`` p_a = Wt . W^a / Nw (explicit reference, ``overlaps``), ``cost`` the
    perceptron cost L of every replica (when annealed).
    """

    def __init__(self, cfg: Config, problem: spherical.Problem, state: spherical.State, betas: np.ndarray,
                 gammas: np.ndarray):
        a, e = cfg.anneal, cfg.ensemble
        self.problem, self.state, self.mode = problem, state, _mode(cfg)
        self.adapt = adapt_flags(cfg, betas, gammas)
        self.thetas = np.zeros(len(betas))
        self.theta = np.array([theta_start(cfg)])
        self.target, self.stop = a.step.target_acceptance, stop_rule(cfg)
        self.q1 = np.nan if e.target_overlap is None else e.target_overlap
        self.tol = e.overlap_tolerance
        self.explicit = self.mode == spherical_mc.EXPLICIT
        self.cost = problem.cost == spherical.PERCEPTRON
        self.trace = {"rrr": np.float64, "theta_max": np.float64,
                      **({"reference_overlap": np.float64} if self.explicit else {}),
                      **({"cost": np.float64} if self.cost else {})}

    def run(self, s: int, betas: np.ndarray, gammas: np.ndarray, energies: np.ndarray, accepted: np.ndarray,
            qbar: np.ndarray) -> int:
        """Sweeps s, s + 1, ... at (betas, gammas); after each, its row of energies, accepted, qbar.
        Returns the sweeps done (fewer only when solved)."""
        return spherical_mc.run(self.problem, self.state, self.mode, betas, gammas, self.adapt[s:s + len(betas)],
                                self.theta, self.target, s, self.stop, self.q1, self.tol, energies[s:],
                                accepted[s:], qbar[s:], self.thetas[s:])

    def record(self, s: int, done: int) -> list:
        """This prior's trace entries (``self.trace``, in order) after sweeps s .. s + done - 1."""
        st = self.state
        out = [0.0, self.thetas[s + done - 1]]
        if self.explicit:
            out.append(overlaps(st.w, st.ref))
        if self.cost:  # L sums over the wrong patterns: none on a solution, so exactly 0 there (the
            # cached L carries the rounding of its updates, up to 1e-15 in float64 and 1e-6 in float32)
            out.append(np.where(st.E == 0, 0.0, st.L))
        return out

    def annealed(self) -> np.ndarray:
        """The energy the sampler anneals, per replica: the perceptron cost L (0 on a solution, as in
        ``record``), or the error count E as float64."""
        st = self.state
        return np.where(st.E == 0, 0.0, st.L) if self.cost else st.E.astype(np.float64)

    def finish(self, index: int, log_c: float) -> None:
        """The final state's caches from scratch (the chain is over)."""
        spherical_mc.rebuild(self.problem, self.state, self.mode)


def reference(state: spherical.State) -> tuple[np.ndarray, str]:
    """The sampled reference of the ensemble (the only form implemented for spherical weights)."""
    return state.ref.copy(), "sampled"


def overlaps(W: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """p_a = Wt . W^a / Nw, summed with math.fsum (correctly rounded, the same bits on every CPU)."""
    return np.array([math.fsum(ref * w) / W.shape[1] for w in W])


def witness(w: np.ndarray) -> None:
    """relusim capacity keeps no witness of real weights."""
    return None


def default_alpha(activation: str, Ks: Sequence[int], architecture: str) -> str:
    """The ``--alpha`` grid of relusim capacity (``DEFAULT_ALPHA``): the perceptron's when K = 1 is the only K."""
    return DEFAULT_ALPHA["perceptron" if tuple(Ks) == (1,) else "tree"]


def capacity_theory(activation: str, K: int) -> dict | None:
    """K = 1 Gardner's 2; ReLU the RS 2 E[g'^2]/Var g = 2 pi/(pi - 1) with the 1RSB value in the label;
    sign (RS infinite) the large-K 1RSB asymptote (16/pi) sqrt(ln K) of Monasson & Zecchina (a K >> 1
    form, given beside every K > 1 for orientation only)."""
    from ..theory import rs, rsb  # SciPy, ~0.7 s: only where a capacity table is made
    from ..theory.activations import perceptron

    if K == 1:
        return {"alpha": float(rs.capacity_rs_spherical(perceptron())), "label": THEORY_LABEL["perceptron"]}
    if activation == "sign":
        return {"alpha": 16.0 / math.pi * math.sqrt(math.log(K)), "label": THEORY_LABEL["sign"], "per_K": True}
    a = rs.capacity_rs_spherical(activation)
    if not math.isfinite(a):
        return None
    label = THEORY_LABEL["other"].format(act=activation)
    if activation == "relu":
        label += f"; 1RSB {rsb.capacity_1rsb_spherical('relu').alpha:.3f}"
    return {"alpha": float(a), "label": label}


def equilibrate(cfg: Config, problem, state, inst, index: int) -> tuple[dict, dict]:
    """Not available: errors are forbidden by rejecting every move that makes one (binary weights at
    beta = inf); spherical runs have no such sampler (config validation refuses the setting)."""
    raise RunError(f"sample {index}: equilibrium sampling needs machine.weights: binary")
