"""Per-access-point path-loss models: known answers on synthetic APs, the likelihood, persistence."""

import numpy as np
import pytest

from omniloc.filters.signal_model import LogDistanceModel, fit_log_distance


def _survey(seed=0, n=600, noise_db=2.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 40, (n, 2))
    floor = rng.integers(0, 2, n)
    centres = np.array([[10.0, 10.0], [30.0, 25.0], [5.0, 35.0]])
    power = np.array([-35.0, -40.0, -30.0])
    expo = np.array([2.0, 3.0, 2.5])
    d = np.maximum(np.linalg.norm(xy[:, None] - centres[None], axis=-1), 1.0)
    rss = power - 10 * expo * np.log10(d) + rng.normal(0, noise_db, d.shape)
    rss[rss < -90] = np.nan  # not heard far away
    rss[floor == 1, 2] = np.nan  # AP 2 is not heard on floor 1
    return xy, floor, rss, centres, power, expo


def test_fit_recovers_known_access_points():
    xy, floor, rss, centres, power, expo = _survey()
    m = fit_log_distance(xy, floor, rss, ["a", "b", "c"])
    assert sorted(zip(m.floor.tolist(), m.ap.tolist())) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    for row in range(len(m.ap)):
        a = m.ap[row]
        assert np.linalg.norm(m.centre[row] - centres[a]) < 1.5, (row, m.centre[row], centres[a])
        assert m.exponent[row] == pytest.approx(expo[a], abs=0.3)
        assert m.power_db[row] == pytest.approx(power[a], abs=3.0)
        assert m.sigma_db[row] == pytest.approx(4.0)  # 2 dB of noise: the floor of 4 dB applies
    few = fit_log_distance(xy[:20], floor[:20], rss[:20], ["a", "b", "c"], min_samples=50)
    assert len(few.ap) == 0


def test_loglik_peaks_at_the_true_position_and_round_trips():
    xy, floor, rss, *_ = _survey(seed=1)
    m = fit_log_distance(xy, floor, rss, ["a", "b", "c"])
    i = 5
    grid = np.stack(np.meshgrid(np.arange(0, 40, 1.0), np.arange(0, 40, 1.0)), -1).reshape(-1, 2)
    ll = m.loglik(grid, np.full(len(grid), floor[i]), rss[i], weight=1.0)
    assert np.linalg.norm(grid[np.argmax(ll)] - xy[i]) < 6.0
    assert np.all(ll <= 0) and m.loglik(grid[:3], np.zeros(3), np.full(3, np.nan)).tolist() == [0.0, 0.0, 0.0]
    # the cap: one AP 50 dB off costs at most cap^2 / 2
    scan = np.array([-200.0, np.nan, np.nan])
    assert m.loglik(grid[:1], np.zeros(1), scan, weight=1.0, cap=3.0)[0] == pytest.approx(-4.5)
    again = LogDistanceModel.from_json(m.to_json())
    np.testing.assert_array_equal(
        again.loglik(grid, np.zeros(len(grid)), rss[i]), m.loglik(grid, np.zeros(len(grid)), rss[i])
    )
