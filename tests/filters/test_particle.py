"""Particle filter over a floor plan: resampling, motion, walls, the fix model, floors and the smoother."""

import numpy as np
import pytest

from omniloc.data import FloorPlan
from omniloc.filters import PF_DEFAULTS, ParticleFilter, smooth_particles, systematic_resample


def corridor(length=30.0, width=2.0, floor=0, stairs=False):
    """A corridor along x between two walls, closed at both ends (a room of `width` at y in [0, width])."""
    walls = [[[0, 0], [length, 0]], [[0, width], [length, width]], [[0, 0], [0, width]], [[length, 0], [length, width]]]
    zones = {f"F{floor}-corridor": np.array([[0, 0], [length, 0], [length, width], [0, width]])}
    if stairs:
        zones = {f"F{floor}-stairs": np.array([[0, 0], [4, 0], [4, width], [0, width]]), **zones}
    return FloorPlan(f"c{floor}", walls, zones=zones, floor=floor)


def test_systematic_resampling_preserves_expected_counts():
    w = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    rng = np.random.default_rng(0)
    counts = np.array([np.bincount(systematic_resample(w, rng), minlength=5) for _ in range(2000)])
    # each particle gets floor(N w) or ceil(N w) copies, N w on average; a zero weight none
    n = len(w)
    assert np.all(counts >= np.floor(n * w)) and np.all(counts <= np.ceil(n * w))
    np.testing.assert_allclose(counts.mean(axis=0), n * w, atol=0.05)
    assert systematic_resample(np.ones(4) / 4, rng).tolist() == [0, 1, 2, 3]


def test_fix_update_known_answer():
    pf = ParticleFilter({}, {"particles": 10, "fix_sigma_m": 2.0, "bias_sigma_m": 1.0}, seed=0)
    pf.initialize([0.0, 0.0], 1.0, floors=[0])
    pf.xy = np.array([[float(i), 0.0] for i in range(10)])
    pf.log_w = np.full(10, -np.log(10))
    pf.update_fix(0.0, [3.0, 0.0])
    # S = P + sigma_w^2 = 1 + 4; log w_i = -|z - x_i|^2 / (2 S) + const
    expected = -0.5 * (3.0 - np.arange(10)) ** 2 / 5.0
    expected -= np.logaddexp.reduce(expected)
    if pf.ess() >= PF_DEFAULTS["resample_ess"] * 10:  # not resampled
        np.testing.assert_allclose(pf.log_w, expected, atol=1e-9)
    # the bias mean of each particle moves by P / S of its residual, the variance shrinks to P sigma_w^2 / S
    assert pf.bias_var == pytest.approx(1.0 * 4.0 / 5.0)


def test_bias_forgets_with_its_time_constant():
    pf = ParticleFilter({}, {"particles": 10, "fix_sigma_m": 1.0, "bias_sigma_m": 2.0, "bias_tau_s": 10.0}, seed=0)
    pf.initialize([0.0, 0.0], 0.1, floors=[0])
    pf.update_fix(0.0, [1.0, 0.0])
    P0 = pf.bias_var
    assert P0 == pytest.approx(4.0 * 1.0 / 5.0)
    m0 = pf.bias.copy()
    pf.update_fix(10.0, [1.0, 0.0])
    rho = np.exp(-1.0)
    P = rho**2 * P0 + (1 - rho**2) * 4.0
    assert pf.bias_var == pytest.approx(P * 1.0 / (P + 1.0))
    assert np.all(np.abs(pf.bias[:, 0]) >= np.abs(rho * m0[:, 0]) - 1e-9)


def test_walls_weigh_down_moves_through_them():
    plan = corridor()
    pf = ParticleFilter({0: plan}, {"particles": 200, "wall_weight": 0.1, "grid_m": 0.1}, seed=0)
    pf.initialize([5.0, 1.0], 0.01, floors=[0], offset_rad=0.0)
    pf.conf.update(heading_noise_deg=0.0, length_noise=0.0, position_noise_m=0.0, offset_walk_deg=0.0, scale_walk=0.0)
    pf.offset[:] = 0.0
    pf.offset[:100] = np.pi / 2  # half the particles walk into the wall at y = 2
    pf.scale[:] = 1.0
    pf.step(1.0, 1.5, 0.0)
    w = pf.weights
    assert w[:100].sum() / w[100:].sum() == pytest.approx(0.1, rel=1e-6)
    assert np.allclose(pf.xy[100:], [6.5, 1.0], atol=0.05)


def test_walker_in_a_corridor_converges_and_a_wrong_start_recovers():
    plan = corridor(60.0)
    rng = np.random.default_rng(1)
    truth = np.c_[np.linspace(2.0, 50.0, 70), np.full(70, 1.0)]
    steps = np.diff(truth, axis=0)
    length = np.linalg.norm(steps, axis=1)
    conf = {"particles": 1500, "fix_sigma_m": 3.0, "bias_sigma_m": 0.5, "bias_tau_s": 5.0}
    pf = ParticleFilter({0: plan}, conf, seed=0)
    pf.initialize([14.0, 1.0], 4.0, floors=[0], offset_rad=0.0)  # 12 m off the truth
    online = []
    for k in range(len(steps)):
        t = float(k + 1)
        pf.step(t, float(length[k]), 0.0)
        if k % 3 == 0:
            pf.update_fix(t, truth[k + 1] + rng.normal(0, 3.0, 2))
        online.append(pf.estimate()[0])
    online = np.array(online)
    err = np.linalg.norm(online - truth[1:], axis=1)
    assert err[:3].mean() > 3.5  # starts off
    assert err[-20:].mean() < 1.5  # recovered under fixes
    # the (soft) walls keep the weight in the corridor
    inside = (pf.xy[:, 1] > -0.3) & (pf.xy[:, 1] < 2.3)
    assert pf.weights[inside].sum() > 0.99
    hist = pf.stored()
    assert hist.state.shape == (len(steps) + 1, 1500, 4) and len(hist.t) == len(steps) + 1
    sxy, sfl = smooth_particles(hist, conf, seed=0)
    serr = np.linalg.norm(sxy[1:] - truth[1:], axis=1)
    assert serr.mean() < err.mean() and np.all(sfl == 0)
    mean, floor, cov = pf.estimate()
    assert floor == 0 and cov.shape == (2, 2) and np.all(np.linalg.eigvalsh(cov) >= 0)


def test_gyro_heading_offset_is_found_by_the_walls():
    """An unknown heading origin (uniform offsets) in an L-free corridor: walls keep the along-corridor ones."""
    plan = corridor(60.0)
    pf = ParticleFilter({0: plan}, {"particles": 2000, "init_offset_deg": None, "wall_weight": 0.01}, seed=3)
    pf.initialize([10.0, 1.0], 0.3, floors=[0])
    psi0 = 1.0  # the gyro's heading origin is off by 1 rad: walking along +x reads psi = -1
    for k in range(30):
        pf.step(float(k + 1), 0.7, -psi0)
    w = pf.weights
    heading = np.angle(np.sum(w * np.exp(1j * pf.offset)))
    # the surviving offsets point along the corridor (+x or -x)
    assert min(abs(np.angle(np.exp(1j * (heading - psi0)))), abs(np.angle(np.exp(1j * (heading - psi0 - np.pi))))) < 0.3


def test_floors_change_at_stairs_and_follow_the_fixes():
    plans = {0: corridor(30.0, floor=0, stairs=True), 1: corridor(30.0, floor=1, stairs=True)}
    pf = ParticleFilter(plans, {"particles": 500, "floor_switch": 0.5, "floor_switch_anywhere": 0.0}, seed=0)
    pf.initialize([20.0, 1.0], 0.2, floors=[0])
    for k in range(5):
        pf.step(float(k), 0.0, 0.0)
    assert np.all(pf.floor == 0)  # away from the stairs nobody changes floor
    pf.xy[:] = [2.0, 1.0]
    for k in range(5):
        pf.step(float(5 + k), 0.0, 0.0)
    assert 0.2 < np.mean(pf.floor == 1) < 0.8
    for k in range(5):
        pf.update_fix(float(10 + k), [2.0, 1.0], floor=1)
    assert pf.estimate()[1] == 1
    # without stairs zones anywhere, floor changes anywhere with the smaller probability
    flat = ParticleFilter({0: corridor(floor=0), 1: corridor(floor=1)}, {"particles": 2000}, seed=0)
    flat.initialize([20.0, 1.0], 0.2, floors=[0])
    for k in range(10):
        flat.step(float(k), 0.0, 0.0)
    assert 0 < np.mean(flat.floor == 1) < 0.05
    # with stairs, the small rate anywhere lets a filter that missed the transition catch up
    late = ParticleFilter(plans, {"particles": 2000, "floor_switch": 0.5, "floor_switch_anywhere": 0.01}, seed=0)
    late.initialize([20.0, 1.0], 0.2, floors=[0])
    for k in range(5):
        late.step(float(k), 0.0, 0.0)
    assert 0.03 < np.mean(late.floor == 1) < 0.07  # about 1 - 0.99^5 = 4.9 %
    for k in range(5):
        late.update_fix(float(5 + k), [20.0, 1.0], floor=1)
    assert late.estimate()[1] == 1


def test_initialization_uniform_over_the_map_and_seeded():
    plan = corridor(20.0)
    a = ParticleFilter({0: plan}, {"particles": 300}, seed=5)
    a.initialize(None, 0.0, floors=[0])
    assert np.all((a.xy[:, 0] >= 0) & (a.xy[:, 0] <= 20) & (a.xy[:, 1] >= 0) & (a.xy[:, 1] <= 2))
    assert a.xy[:, 0].std() > 4.0
    b = ParticleFilter({0: plan}, {"particles": 300}, seed=5)
    b.initialize(None, 0.0, floors=[0])
    np.testing.assert_array_equal(a.xy, b.xy)
    c = ParticleFilter({0: plan}, {"particles": 300}, seed=5)
    c.initialize([10.0, 1.0], 3.0, floors=[0])
    assert c.grids[0].is_free(c.xy).mean() > 0.99  # redrawn out of the walls
    with pytest.raises(Exception, match="unknown"):
        ParticleFilter({}, {"particels": 3})
