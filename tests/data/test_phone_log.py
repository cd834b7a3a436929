"""Known answers of the helpers the phone-log importers share: scan matrix, gyroscope on the
accelerometer clock, rotation vector -> quaternion, ground-truth and time-span checks, import warnings
and the split of an import."""

import numpy as np
import pytest

from omniloc import ConfigError, DataError
from omniloc.data import Dataset, Recording
from omniloc.data.fingerprint import scan_matrix
from omniloc.data.loaders._common import ImportWarnings, split_import
from omniloc.data.loaders._phone_log import check_ground_truth, check_log_span, imu_values, rotation_quaternions
from omniloc.data.transforms import quat_from_rotation_vector, quat_rotate, resample_to_clock


def test_scan_matrix_groups_rows_by_time_and_keeps_the_preferred_duplicate():
    t = np.array([2.0, 1.0, 2.0, 1.0, 2.0, 1.0])
    ids = np.array(["b", "a", "a", "c", "b", "a"])
    rss = np.array([-70.0, -50.0, -60.0, -80.0, -65.0, -55.0])
    times, values, uid, merged = scan_matrix(t, ids, rss)
    assert times.tolist() == [1.0, 2.0] and uid.tolist() == ["a", "b", "c"] and merged == 2
    # scan 1: a twice (-50, -55) keeps the strongest; scan 2: b twice (-70, -65) keeps the strongest
    np.testing.assert_array_equal(values, np.array([[-50, np.nan, -80], [-60, -65, np.nan]], dtype=np.float32))
    assert values.dtype == np.float32
    # a rank (e.g. last_seen) wins over strength: the fresher b (-70, rank 5) beats the stronger stale one
    rank = np.array([5.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    _, ranked, _, _ = scan_matrix(t, ids, rss, rank)
    assert ranked[1, 1] == -70
    times, values, uid, merged = scan_matrix(np.zeros(0), np.zeros(0, dtype=str), np.zeros(0))
    assert values.shape == (0, 0) and uid.shape == (0,) and merged == 0
    with pytest.raises(ValueError, match="rows of equal length"):
        scan_matrix([1.0], ["a", "b"], [-50.0])


def test_resample_to_clock_interpolates_and_holds_the_ends():
    t_src = np.array([0.0, 1.0, 3.0])
    vals = np.array([[0.0, 10.0], [2.0, 10.0], [6.0, 4.0]])
    out = resample_to_clock(t_src, vals, np.array([-1.0, 0.5, 2.0, 3.0, 9.0]))
    np.testing.assert_allclose(out, [[0, 10], [1, 10], [4, 7], [6, 4], [6, 4]])
    same = resample_to_clock(t_src, vals, t_src.copy())  # the same clock: the rows as they are
    np.testing.assert_array_equal(same, vals)
    assert same is not vals
    dup = np.array([0.0, 1.0, 1.0, 2.0])  # a repeated timestamp on both clocks keeps each row
    rows = np.array([[0.0], [1.0], [5.0], [2.0]])
    np.testing.assert_array_equal(resample_to_clock(dup, rows, dup.copy()), rows)
    with pytest.raises(ValueError, match="at least one source sample"):
        resample_to_clock(np.zeros(0), np.zeros((0, 3)), np.array([1.0]))


def test_imu_values_on_the_accelerometer_clock():
    acc_t = np.array([0.0, 0.1, 0.2, 0.3])
    acc = np.arange(12.0).reshape(4, 3)
    gyr_t = np.array([0.05, 0.25])
    gyr = np.array([[1.0, 0.0, -1.0], [3.0, 0.0, 1.0]])
    values, same, outside = imu_values(acc_t, acc, gyr_t, gyr)
    assert values.shape == (4, 6) and values.dtype == np.float32 and not same and outside == 2
    np.testing.assert_allclose(values[:, :3], acc)
    np.testing.assert_allclose(values[:, 3:], [[1, 0, -1], [1.5, 0, -0.5], [2.5, 0, 0.5], [3, 0, 1]], atol=1e-6)
    values, same, outside = imu_values(acc_t, acc, acc_t, acc + 100)
    assert same and outside == 0 and values[2, 3:].tolist() == [106, 107, 108]


def test_rotation_vector_to_quaternion():
    # 90 degrees about +z: v = sin(45 deg) * z, w = cos(45 deg)
    s = np.sqrt(0.5)
    q = quat_from_rotation_vector([0.0, 0.0, s])
    np.testing.assert_allclose(q, [s, 0, 0, s])
    np.testing.assert_allclose(quat_rotate(q, [1.0, 0.0, 0.0]), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quat_from_rotation_vector([0.6, 0.0, 0.0]), [0.8, 0.6, 0, 0])
    # |v| slightly above 1 (rounding in the log): w clipped at 0, renormalised
    np.testing.assert_allclose(quat_from_rotation_vector([0.0, 1.0 + 1e-7, 0.0]), [0, 0, 1, 0])
    batch = rotation_quaternions(np.array([[0.0, 0.0, 0.0], [0.0, 0.6, 0.0]]))
    assert batch.dtype == np.float32 and batch.shape == (2, 4)
    np.testing.assert_allclose(batch, [[1, 0, 0, 0], [0.8, 0, 0.6, 0]], atol=1e-7)


def test_check_ground_truth():
    t = np.array([0.0, 1.0, 1.0, 2.0])
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [2.0, 3.0]])
    lines = np.array([10, 11, 12, 13])
    check_ground_truth(t, xy, lines, file="f.txt", field="WP", lo=[-1, -1], hi=[5, 5])  # repeats at one place: fine
    with pytest.raises(
        DataError,
        match=r"lines 11 and 12: two WP points at the same time 1 with different positions "
        r"\[1.0, 1.0\] and \[1.0, 2.0\]",
    ) as e:
        check_ground_truth(t, np.r_[xy[:2], [[1.0, 2.0]], xy[3:]], lines, file="f.txt", field="WP")
    assert e.value.file == "f.txt" and e.value.field == "WP"
    with pytest.raises(
        DataError,
        match=r"line 13: WP point \[2.0, 3.0\] lies outside \[-1, 5\], \[-1, 2\] m "
        r"\(the box\)",
    ):
        check_ground_truth(t, xy, lines, file="f.txt", field="WP", lo=[-1, -1], hi=[5, 2], extent="the box")
    with pytest.raises(DataError, match=r"line 10: WP point \[nan, 0.0\]; expected finite metres"):
        check_ground_truth(t, np.r_[[[np.nan, 0.0]], xy[1:]], lines, file="f.txt", field="WP")
    with pytest.raises(
        DataError,
        match=r"line 11: WP point \[-20000000.0, 1.0\]; expected finite metres with "
        r"\|coordinate\| <= 1e\+07",
    ):
        check_ground_truth(t, np.r_[xy[:1], [[-2e7, 1.0]], xy[2:]], lines, file="f.txt", field="WP")


def test_check_log_span():
    ok = {"A": (np.array([1000, 2000]), np.array([3, 4])), "B": (np.array([1500]), np.array([5]))}
    check_log_span(ok, "f.txt", unit="ms")
    check_log_span({"A": (np.zeros(0), np.zeros(0, dtype=int))}, "f.txt")  # nothing to check
    bad = {"A": (np.array([1000.0, 2000.0, 3000.0]), np.array([3, 4, 6])), "B": (np.array([-9e9]), np.array([5]))}
    with pytest.raises(
        DataError,
        match=r"records span 9e\+09 s, from line 5 \(B at -9000000000 s\) to line 6 "
        r"\(A at 3000 s\); expected one walk of at most 86400 s",
    ) as e:
        check_log_span(bad, "f.txt")
    assert e.value.field == "B.timestamp"  # the record far from the others


def test_import_warnings_tally():
    w = ImportWarnings()
    assert w.to_json() == {} and w.total == 0
    w.add("b.txt", "x -> NaN")
    w.add("a.txt", "y dropped", 3)
    w.update("b.txt", {"x -> NaN": 2, "z": 0})
    assert w.to_json() == {"a.txt": {"y dropped": 3}, "b.txt": {"x -> NaN": 3}} and w.total == 6


def test_split_import_refuses_an_empty_side():
    def ds(n):
        recs = {f"r{i}": Recording(f"r{i}", np.arange(5.0)) for i in range(n)}
        return Dataset("d", recs)

    with pytest.raises(
        DataError,
        match=r"only one log file \('r0'\) to split by recording: test_fraction=0.2 would "
        "leave the test split empty",
    ) as e:
        split_import(ds(1), 0.2, 0, "src.txt", unit="log file")
    assert e.value.file == "src.txt" and e.value.field == "test_fraction"
    with pytest.raises(DataError, match="would leave the train split empty"):
        split_import(ds(1), 0.7, 0)
    assert split_import(ds(1), 0.0, 0).splits == {"train": ["r0"]}
    assert split_import(ds(1), 1.0, 0).splits == {"test": ["r0"]}
    two = split_import(ds(2), 0.5, 0).splits
    assert sorted(two["train"] + two["test"]) == ["r0", "r1"] and len(two["test"]) == 1
    for bad in (-0.1, 1.5, "abc", None):
        with pytest.raises(ConfigError, match="test_fraction must be a number in"):
            split_import(ds(2), bad, 0)
