"""Track smoothing and floor smoothing: known answers, robustness to outliers, bad input."""

import numpy as np
import pytest

from omniloc.filters import smooth_floors, smooth_track


def _walk(rotation=0.7):
    """An L-shaped walk: 20 steps of 0.7 m east then 20 north, 0.5 s apart; steps given in a
    frame rotated by -rotation (the map frame is the step frame turned by +rotation)."""
    heading = np.r_[np.zeros(20), np.full(20, np.pi / 2)]
    step_t = 0.5 * np.arange(1, 41)
    truth_steps = 0.7 * np.c_[np.cos(heading), np.sin(heading)]
    truth = np.vstack([[0.0, 0.0], np.cumsum(truth_steps, axis=0)]) + [10.0, 5.0]
    c, s = np.cos(-rotation), np.sin(-rotation)
    step_xy = truth_steps @ np.array([[c, s], [-s, c]])
    return step_t, step_xy, truth


def test_exact_fixes_and_steps_give_the_true_path_and_rotation():
    step_t, step_xy, truth = _walk(0.7)
    node_t = np.r_[0.0, step_t]
    fix_t = node_t[::5]
    tr = smooth_track(fix_t, truth[::5], step_t, step_xy, t_start=0.0)
    np.testing.assert_allclose(tr.t, node_t)
    np.testing.assert_allclose(tr.xy, truth, atol=1e-6)
    assert tr.rotation_rad == pytest.approx(0.7, abs=1e-6)
    np.testing.assert_allclose(tr.at([0.25, 100.0]), [(truth[0] + truth[1]) / 2, truth[-1]], atol=1e-6)
    assert np.all(tr.fix_weight == 1.0) and np.all(tr.fix_residual_m < 1e-6)


def test_noisy_fixes_are_averaged_and_an_outlier_loses_its_weight():
    rng = np.random.default_rng(0)
    step_t, step_xy, truth = _walk(-1.2)
    node_t = np.r_[0.0, step_t]
    fix_xy = truth + rng.normal(0, 3.0, truth.shape)
    fix_xy[30] += [40.0, 0.0]  # a fix in another corridor
    raw = np.linalg.norm(fix_xy - truth, axis=1).mean()
    tr = smooth_track(node_t, fix_xy, step_t, step_xy, sigma_fix_m=3.0, sigma_step_m=0.1, huber_m=5.0)
    err = np.linalg.norm(tr.at(node_t) - truth, axis=1)
    assert err.mean() < 0.25 * raw  # ~0.6 m against ~4 m
    assert tr.fix_weight[30] < 0.2 and tr.rotation_rad == pytest.approx(-1.2, abs=0.15)
    plain = smooth_track(node_t, fix_xy, step_t, step_xy, sigma_fix_m=3.0, sigma_step_m=0.1, huber_m=None)
    assert np.linalg.norm(plain.at(node_t) - truth, axis=1).mean() > err.mean()


def test_no_steps_gives_the_mean_fix_and_a_known_rotation_is_kept():
    tr = smooth_track([0.0, 1.0, 2.0], [[0, 0], [2, 0], [np.nan, 5]], [], np.zeros((0, 2)))
    np.testing.assert_allclose(tr.xy, [[1.0, 0.0]])
    assert np.isnan(tr.fix_weight[2])
    step_t, step_xy, truth = _walk(0.3)
    tr = smooth_track(np.r_[0.0, step_t], truth, step_t, step_xy, rotation_rad=0.0)
    assert tr.rotation_rad == 0.0


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="at least one finite fix"):
        smooth_track([0.0], [[np.nan, 0]], [1.0], [[1, 0]])
    with pytest.raises(ValueError, match="rows"):
        smooth_track([0.0, 1.0], [[0, 0]], [1.0], [[1, 0]])
    with pytest.raises(ValueError, match="increasing"):
        smooth_track([0.0], [[0, 0]], [2.0, 1.0], [[1, 0], [1, 0]])
    with pytest.raises(ValueError, match="positive"):
        smooth_track([0.0], [[0, 0]], [1.0], [[1, 0]], sigma_fix_m=0)


def test_smooth_floors_known_answers():
    # a run of 2 inside the path costs 2 disagreements < 2 switches of 3: removed
    np.testing.assert_array_equal(smooth_floors([0, 0, 0, 1, 1, 0, 0, 0], 3.0), [0] * 8)
    # a run of 7 is a real floor change (7 > 2 x 3)
    seq = [0] * 5 + [1] * 7 + [0] * 5
    np.testing.assert_array_equal(smooth_floors(seq, 3.0), seq)
    # at the end of the path one switch suffices: 4 > 3
    np.testing.assert_array_equal(smooth_floors([2, 2, 2, 2, 2, -1, -1, -1, -1], 3.0), [2] * 5 + [-1] * 4)
    np.testing.assert_array_equal(smooth_floors([2, 2, 2, 2, 2, -1, -1], 3.0), [2] * 7)
    np.testing.assert_array_equal(smooth_floors([1, 0, 1], 0.0), [1, 0, 1])
    assert len(smooth_floors([], 1.0)) == 0
    with pytest.raises(ValueError, match="switch_cost"):
        smooth_floors([0], -1.0)


def test_smooth_floors_with_time_weights():
    from omniloc.filters import time_weights

    np.testing.assert_allclose(time_weights([0.0, 1.0, 3.0]), [1.0, 1.5, 2.0])
    np.testing.assert_allclose(time_weights([5.0]), [1.0])
    # 10 Hz estimates: a 0.5 s run of floor 1 is noise, a 5 s run is a change (switch cost 1 s)
    t = np.arange(0, 20, 0.1)
    f = np.zeros(len(t), int)
    f[50:55] = 1
    f[100:150] = 1
    want = np.zeros(len(t), int)
    want[100:150] = 1
    np.testing.assert_array_equal(smooth_floors(f, 1.0, time_weights(t)), want)
    with pytest.raises(ValueError, match="weight"):
        smooth_floors([0, 1], 1.0, [1.0])
