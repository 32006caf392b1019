"""Transfer protocols and task pairs (spec infinite-width-transfer.md §3–§5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finetune_bounds.errors import InvalidInputError
from finetune_bounds.infinite_width import (
    PROTOCOLS,
    TransferSetting,
    digits_pair,
    hermite_pair,
    linear_closed_form_sb,
    linear_pair,
    make_task,
    particle_dmft,
    ridge_readout_predict,
    transfer_dmft,
    transfer_network,
)

LIN = TransferSetting(gamma_source=1.0, gamma_target=1.0, ridge_source=0.1, ridge_hidden=0.1,
                      ridge_target=0.1, stiffness=1.0, activation="linear")


def _small(alpha: float = 0.8, seed: int = 0) -> object:
    return linear_pair(8, 16, 10, 40, alpha_s=alpha, rng=seed)


# ---------------------------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [-1.0, -0.3, 0.0, 0.5, 1.0])
def test_linear_pair_alignment_exact(alpha: float) -> None:
    t = linear_pair(30, 200, 50, 400, alpha_s=alpha, rng=1)
    # recover β₁, β₂ from noise-free data by least squares
    b1 = np.linalg.lstsq(t.x_source, t.y_source * math.sqrt(30), rcond=None)[0]
    b2 = np.linalg.lstsq(t.x_test, t.y_test * math.sqrt(30), rcond=None)[0]
    assert abs(b1 @ b1 / 30 - 1) < 1e-10 and abs(b2 @ b2 / 30 - 1) < 1e-10
    assert abs(b1 @ b2 / 30 - alpha) < 1e-10


def test_hermite_pair_unit_variance_and_mehler() -> None:
    # E[y²] = 1 and E[y₁(x) y₂(x)] = α_s^k on common inputs: check the second through the test
    # inputs of two tasks that share teachers (same seed) but differ in α_s
    t = hermite_pair(20, 10, 10, 20000, alpha_s=0.6, degree=2, rng=3)
    se = np.std(t.y_test**2) / math.sqrt(t.y_test.size)
    assert abs(np.mean(t.y_test**2) - 1.0) < 4 * se
    t1 = hermite_pair(20, 10, 10, 20000, alpha_s=1.0, degree=2, rng=3)  # y_test = y₁ on x_test
    prod = t.y_test * t1.y_test
    assert abs(prod.mean() - 0.36) < 4 * prod.std() / math.sqrt(prod.size)


def test_digits_pair_classes_and_disjoint() -> None:
    t = digits_pair(50, 30, 100, source_classes=(3, 8), target_classes=(1, 7), rng=0)
    assert t.x_source.shape == (50, 64) and t.x_test.shape == (100, 64)
    np.testing.assert_allclose(np.sum(t.x_target**2, axis=1) / 64, 1.0)
    rows = {r.tobytes() for r in t.x_target}
    assert not rows.intersection(r.tobytes() for r in t.x_test)
    assert set(np.unique(t.y_source)) == {-1.0, 1.0}


@pytest.mark.parametrize(
    "call",
    [
        lambda: linear_pair(5, 5, 5, 5, alpha_s=1.5),
        lambda: linear_pair(5, 0, 5, 5, alpha_s=0.5),
        lambda: linear_pair(5, 5, 5, 5, alpha_s=0.5, noise_target=-1),
        lambda: hermite_pair(5, 5, 5, 5, alpha_s=0.5, degree=0),
        lambda: digits_pair(5, 5, 5, source_classes=(1, 1)),
        lambda: digits_pair(5, 5, 5000),
        lambda: make_task("cifar"),
    ],
)
def test_task_bad_input(call: object) -> None:
    with pytest.raises(InvalidInputError):
        call()  # type: ignore[operator]


# ---------------------------------------------------------------------------------------------
# protocols on the particle solver
# ---------------------------------------------------------------------------------------------
def test_ft_is_the_ridge_readout_on_the_source_particles() -> None:
    # the same seed draws the same particles over the same input union [X₁; X₂; X_test], so
    # FT must equal the ridge readout on particle_dmft's source-adapted feature kernel
    task = _small()
    r = transfer_dmft(task, LIN, protocols=("ft",), neurons=300, seeds=[5], tol=1e-9)
    xe = np.vstack([task.x_target, task.x_test])
    d = particle_dmft(task.x_source, task.y_source, xe, gamma=1.0, ridge_readout=0.1,
                      ridge_hidden=0.1, activation="linear", neurons=300, anchor="init",
                      tol=1e-9, rng=5)
    phi = d.phi[16:, 16:]
    p2 = task.x_target.shape[0]
    ref = phi[p2:, :p2] @ np.linalg.solve(phi[:p2, :p2] + 0.1 * np.eye(p2), task.y_target)
    np.testing.assert_allclose(r.predictions["ft"][0], ref, atol=1e-10)


def test_jr_e_stiff_recovers_ft_and_jr_i_short_time_is_the_source_net() -> None:
    task = _small()
    stiff = TransferSetting(**{**LIN.__dict__, "stiffness": 1e6, "readout": "kept"})
    r = transfer_dmft(task, stiff, protocols=("ft", "jr_e"), neurons=300, tol=1e-10)
    np.testing.assert_allclose(r.predictions["jr_e"], r.predictions["ft"], atol=1e-4)
    # kept readout, γ₂ = γ₁, T₂ → 0: the source network's own predictions
    short = TransferSetting(**{**LIN.__dict__, "time_jr_i": 1e-12, "readout": "kept"})
    r = transfer_dmft(task, short, protocols=("jr_i",), neurons=300, tol=1e-10)
    d = particle_dmft(task.x_source, task.y_source, np.vstack([task.x_target, task.x_test]),
                      gamma=1.0, ridge_readout=0.1, ridge_hidden=0.1, activation="linear",
                      neurons=300, anchor="init", tol=1e-10, rng=0)
    np.testing.assert_allclose(r.predictions["jr_i"][0], d.f_eval[10:], atol=1e-8)


def _ft_reference(task: object, lam2: float = 0.1) -> np.ndarray:
    """FT at infinite width for linear φ, S-B source: ridge on the closed-form kernel x M x'/D.

    With M = L Lᵀ, the features x L (D of them) give φφᵀ/D = x M xᵀ/D exactly."""
    t = task  # a TransferTask
    cf = linear_closed_form_sb(t.x_source, t.y_source, gamma=1.0,  # type: ignore[attr-defined]
                               ridge_readout=0.1, ridge_hidden=0.1)
    low = np.linalg.cholesky(cf.feature_cov)
    return ridge_readout_predict(t.x_target @ low, t.x_test @ low,  # type: ignore[attr-defined]
                                 t.y_target, lam2)  # type: ignore[attr-defined]


def test_particles_and_networks_approach_the_closed_form() -> None:
    # linear φ, S-B source: FT at width N (GD) and with M particles both converge to the
    # closed-form FT predictor; the gap shrinks like N^{-1/2} (spec §2: finite-width O(N^{-1/2}))
    task = linear_pair(6, 12, 8, 40, alpha_s=0.9, rng=2)
    ref = _ft_reference(task)
    gaps = {}
    for width in (100, 1600):
        net = transfer_network(task, LIN, protocols=("ft",), width=width, seeds=4, tol=1e-7)
        gaps[width] = np.sqrt(np.mean((net.predictions["ft"] - ref) ** 2, axis=1))
    part = transfer_dmft(task, LIN, protocols=("ft",), neurons=1600, seeds=2, tol=1e-7)
    gap_p = np.sqrt(np.mean((part.predictions["ft"] - ref) ** 2, axis=1))
    scale = np.sqrt(np.mean(ref**2))
    # 16× the width: the mean gap must shrink by ≥ 2× (4× expected), both well below the signal
    assert gaps[1600].mean() < 0.5 * gaps[100].mean()
    assert gaps[1600].max() < 0.1 * scale and gap_p.max() < 0.1 * scale
    # the particles at M = 1600 are as close as networks at N = 1600 (same O(M^{-1/2}) law)
    assert gap_p.mean() < 3 * gaps[1600].mean() + 3 * gaps[1600].std()


@pytest.mark.slow  # 15 s: two width-1500 runs of every protocol (the linear case runs by default)
def test_network_and_particles_agree_on_every_protocol_relu() -> None:
    task = linear_pair(10, 30, 15, 60, alpha_s=0.9, rng=4)
    st = TransferSetting(activation="relu", time_jr_i=5.0)
    kw = {"seeds": 3, "tol": 1e-6, "max_time": 100.0}
    net = transfer_network(task, st, width=1500, **kw)
    part = transfer_dmft(task, st, neurons=1500, **kw)
    assert part.protocols == PROTOCOLS == net.protocols
    for p in PROTOCOLS:
        e_n, e_p = net.errors[p], part.errors[p]
        se = math.sqrt(np.var(e_n) / 3 + np.var(e_p) / 3)
        # same flow, different random draws: O(N^{-1/2}) apart (rel. 15 % + 4 s.e.)
        assert abs(e_n.mean() - e_p.mean()) < 0.15 * e_p.mean() + 4 * se, p
    # relu stages stop on the stall rule or converge; never fail
    for d in part.diagnostics.values():
        assert np.all(np.isfinite(d["residual"]))


def test_aligned_rich_pretraining_transfers_and_orthogonal_does_not() -> None:
    # linear φ: an aligned source (α_s = 1) gives a large positive gain over the lazy readout;
    # an orthogonal one (α_s = 0) gives none (toy model: E_FT = E_lazy exactly at α_s = 0)
    s = TransferSetting(gamma_source=1.0, ridge_source=0.2, ridge_hidden=0.2,
                        ridge_target=0.05, activation="linear")
    kw = {"protocols": ("scratch_lazy", "ft"), "neurons": 400, "tol": 1e-6}
    good = transfer_dmft(linear_pair(10, 40, 10, 100, alpha_s=1.0, rng=0), s, **kw)
    bad = transfer_dmft(linear_pair(10, 40, 10, 100, alpha_s=0.0, rng=0), s, **kw)
    assert good.gain("ft")[0] > 0.5 * good.errors["scratch_lazy"][0]
    assert abs(bad.gain("ft")[0]) < 0.05 * good.gain("ft")[0]


def test_records_are_tagged() -> None:
    task = _small()
    r = transfer_dmft(task, LIN, protocols=("scratch_lazy", "scratch_rich", "ft", "jr_e"),
                      neurons=100, seeds=2, tol=1e-6)
    rows = r.records(alpha_s=0.8)
    prots = {row["protocol"] for row in rows}
    assert prots == {"scratch_lazy", "scratch_rich", "ft", "jr_e"}
    assert all(row["source"] == "theory" and row["method"] == "particle_dmft" for row in rows)
    ft_rows = [row for row in rows if row["protocol"] == "ft"]
    assert {row["quantity"] for row in ft_rows} == {"error", "gain_lazy", "gain_rich"}
    assert all(row["readout"] == "fresh" for row in ft_rows)
    assert all(row["readout"] == "reset" for row in rows if row["protocol"] == "jr_e")
    g = r.gain("ft", "rich")
    np.testing.assert_allclose(g, r.errors["scratch_rich"] - r.errors["ft"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"protocols": ("ft", "transfer")},
        {"protocols": ()},
        {"neurons": 1},
        {"seeds": []},
        {"tol": 0.0},
    ],
)
def test_transfer_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        transfer_dmft(_small(), LIN, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"ridge_target": 0.0}, {"gamma_source": -1.0}, {"readout": "frozen"}, {"anchor": "source"},
     {"activation": "tanh"}, {"time_jr_i": math.nan}, {"stiffness": -1.0}],
)
def test_setting_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        TransferSetting(**kwargs)  # type: ignore[arg-type]


def test_gain_errors() -> None:
    r = transfer_dmft(_small(), LIN, protocols=("ft",), neurons=50, tol=1e-6)
    with pytest.raises(InvalidInputError):
        r.gain("ft")  # no baseline was run
    with pytest.raises(InvalidInputError):
        r.gain("jr_e")


def test_curve_prefixes_equal_separate_runs_on_networks() -> None:
    # finite-width networks draw their weights from the seeds alone, so the curve's point at
    # P₂ = k must equal a separate run on the task cut to its first k target samples
    import dataclasses

    from finetune_bounds.infinite_width import transfer_curve

    task = linear_pair(6, 12, 10, 20, alpha_s=0.7, rng=3)
    prots = ("scratch_lazy", "ft", "jr_e")
    curve = transfer_curve(task, LIN, [4, 10], solver="network", protocols=prots, width=50,
                           seeds=2, tol=1e-6)
    assert curve.sizes == (4, 10) and curve.errors("ft").shape == (2, 2)
    cut = dataclasses.replace(task, x_target=task.x_target[:4], y_target=task.y_target[:4])
    alone = transfer_network(cut, LIN, protocols=prots, width=50, seeds=2, tol=1e-6)
    for p in prots:
        np.testing.assert_allclose(curve.results[0].errors[p], alone.errors[p], rtol=1e-10)
    rows = curve.records()
    assert {r["p_target"] for r in rows} == {4, 10}
