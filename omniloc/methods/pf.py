"""``pf``: map-aware tracking, a particle filter over the floor plan around any localizer's fixes.

For one recording:

1. a base method (``base``, from the registry: ``knn``, ``mtloc``, ...) gives absolute fixes (its
   finite estimates, with their floors);
2. the ``imu`` stream gives steps (:func:`omniloc.filters.run_pdr`: Weinberg length
   ``L_k = K (a_max - a_min)^(1/4)``) and the heading comes from the phone's orientation stream
   (absolute, :func:`omniloc.filters.absolute_heading`, plus the offset calibrated on the training
   steps) or, without one, from the gyroscope (heading changes; each particle then carries its own
   unknown offset, drawn uniformly on the circle);
3. :class:`omniloc.filters.ParticleFilter` tracks the walker over the walkable grid of the
   building's floor plans: steps move the particles, walls and obstacles weigh down moves through
   them, fixes reweigh them with a Gauss-Markov correlated fix error integrated out per particle,
   floors change only at stairs and elevators;
4. the estimate at each fix time is the filter's (``mode="online"``: causal, at that time) or the
   forward-filtering backward-simulation smoother's (``mode="offline"``: the whole recording).

Estimates come out at the base method's times, so ``pf``, ``track`` and the base compare one to
one. A recording without IMU keeps the fixes and random-walk motion on the map ("fixes only");
one without fixes (no WiFi) is dead reckoning on the map from particles spread over the walkable
space of every floor (global localization by the walls alone: slow to converge).

``fit`` trains the base method, calibrates ``K`` and the heading offset on the training
recordings (:func:`omniloc.filters.calibrate_steps`, the rule of ``pdr`` and ``track``) and, with
``fit_fix_noise``, the fix error model on the validation recordings (or the training ones): the
base method's errors there give the total variance per axis and their correlation time ``tau``
(``r(dt) = a exp(-dt / tau)`` fitted by least squares on the binned correlations between fixes
``dt`` seconds apart, :func:`fix_error_model`), and its floor hit rate gives ``floor_hit``. The
split of the variance into the correlated and the white part is ``bias_share`` (not fitted:
fixes come every ~2 s, so the correlation at lag 0, which would give the split, is not observed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, FloorPlan, Recording
from ..filters import absolute_heading, orientation_stream, run_pdr
from ..filters.particle import PF_DEFAULTS, ParticleFilter, smooth_particles
from ._fixes_and_steps import BASE_STEP_CONF, FixesAndSteps
from .base import Localizer

__all__ = ["ParticleLocalizer", "fix_error_model", "MODES"]

#: ``mode`` choices
MODES = ("online", "offline")


def fix_error_model(t: list, errors: list, max_lag_s: float = 60.0, bin_s: float = 2.0) -> dict:
    """Variance and time correlation of a method's fix errors, per recording (the ``pf`` fix model).

    Parameters
    ----------
    t : list of (M_r,) seconds
        Fix times of each recording.
    errors : list of (M_r, 2) metres
        Fix minus truth at those times.
    max_lag_s, bin_s : float
        Lags considered and their bins.

    Returns
    -------
    dict with ``sigma_m`` (total standard deviation per axis), ``bias_sigma_m`` and
    ``fix_sigma_m`` (its correlated and white parts), ``tau_s`` (correlation time) and ``lags_s``,
    ``corr`` (the binned correlations it was fitted to).
    """
    e = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1, 2) for x in errors]) if errors else np.zeros((0, 2))
    ok = np.isfinite(e).all(axis=1)
    if ok.sum() < 4:
        raise ValueError("fix_error_model needs at least 4 finite errors")
    mean = e[ok].mean(axis=0)
    var = float(np.mean((e[ok] - mean) ** 2))  # per axis
    edges = np.arange(0.0, max_lag_s + bin_s, bin_s)
    num, den = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for tr, er in zip(t, errors):
        tr, er = np.asarray(tr, dtype=np.float64), np.asarray(er, dtype=np.float64).reshape(-1, 2) - mean
        good = np.isfinite(er).all(axis=1)
        tr, er = tr[good], er[good]
        if len(tr) < 2:
            continue
        i, j = np.triu_indices(len(tr), k=1)
        lag = np.abs(tr[j] - tr[i])
        prod = np.sum(er[i] * er[j], axis=1) / 2.0
        b = np.digitize(lag, edges) - 1
        keep = (b >= 0) & (b < len(num))
        np.add.at(num, b[keep], prod[keep])
        np.add.at(den, b[keep], 1.0)
    have = den >= 10
    lags = 0.5 * (edges[:-1] + edges[1:])[have]
    corr = np.clip(num[have] / den[have] / var, -1.0, 1.0)
    best = (0.0, 1.0, np.inf)
    for tau in np.geomspace(1.0, 300.0, 60):  # least squares in (share, tau): share closed-form per tau
        g = np.exp(-lags / tau)
        share = float(np.clip(np.dot(g, corr) / max(np.dot(g, g), 1e-12), 0.0, 1.0)) if len(lags) else 0.0
        sse = float(np.sum((corr - share * g) ** 2))
        if sse < best[2]:
            best = (share, tau, sse)
    share, tau, _ = best
    return {
        "sigma_m": float(np.sqrt(var)),
        "bias_sigma_m": float(np.sqrt(share * var)),
        "fix_sigma_m": float(np.sqrt(max(1.0 - share, 1e-3) * var)),
        "tau_s": float(tau),
        "lags_s": lags.tolist(),
        "corr": corr.tolist(),
    }


class ParticleLocalizer(FixesAndSteps, Localizer):
    """A base method's fixes and the phone's steps fused by a particle filter over the floor plans.

    Configuration (``default_conf``):

    * ``base``, ``base_conf``, ``base_preset``: the method giving the fixes, as in ``track``.
    * ``imu_stream``; ``steps``: step detection (:data:`omniloc.filters.STEP_DEFAULTS`, the keys
      of :class:`~omniloc.methods.pdr.PDRLocalizer`: ``resample_hz``, ``gravity_lowpass_hz``,
      ``step_lowpass_hz``, ``step_threshold``, ``min_step_interval_s``, ``max_step_interval_s``,
      ``gyro_bias``, ``gyro_bias_window_s``, ``still_acc_std``, ``still_gyro_std``,
      ``still_gyro_max``); ``step_length_k``, ``fit_step_length``.
    * ``heading`` (:data:`omniloc.filters.HEADING_SOURCES`), ``orientation_stream``.
    * ``mode``: ``"offline"`` (smoothed over the whole recording) or ``"online"`` (causal).
    * ``filter``: :data:`omniloc.filters.particle.PF_DEFAULTS`, documented there: ``particles``;
      motion noise ``length_noise``, ``heading_noise_deg``, ``position_noise_m``,
      ``offset_walk_deg``, ``scale_walk``, ``init_offset_deg``, ``init_scale_std``,
      ``diffuse_speed_m_s``; walls ``grid_m``, ``wall_weight``, ``wall_slack_m``; floors
      ``floor_switch``, ``floor_switch_anywhere``, ``floor_hit``; fixes ``fix_sigma_m``,
      ``bias_sigma_m``, ``bias_tau_s``; ``resample_ess``; ``smoother_paths``.
    * ``fit_fix_noise``: replace ``fix_sigma_m``, ``bias_sigma_m``, ``bias_tau_s`` and
      ``floor_hit`` by :func:`fix_error_model` of the base method's errors on the validation
      recordings (the training ones without validation data); ``bias_share``: the correlated
      share of the fitted variance (0.6: chosen on the validation walks of the simulated office
      and of the Indoor Location Competition's site1).
    * ``wifi_model``: ``"log-distance"`` (default) or None: also weigh the particles by every WiFi
      scan under per-access-point path-loss models fitted to the training scans
      (:func:`omniloc.filters.signal_model.fit_log_distance`), a likelihood that extrapolates
      beyond the surveyed corridors; ``wifi_stream`` its stream (None: the only ``wifi`` one),
      ``wifi_weight`` the tempering of its log-likelihood (0.03: chosen on site1's validation
      paths, where it took the offline mean from 8.9 to 6.2 m; on the simulated office's
      validation walks it changes nothing beyond noise), ``wifi_min_samples`` the readings an
      AP needs on a floor to get a model, ``wifi_floors`` whether it also weighs floors against
      each other (False: it moves weight only within each floor, the fixes decide floors).
    * ``fix_interval_s``: a fix closer than this to the last fix used is not used (1.0; 0 or None:
      every fix). Overlapping windows (MTLoc: a fix every 0.1 s) repeat one error many times.
    * ``seed``: the filter's random generator.
    """

    name: ClassVar[str] = "pf"
    required_streams: ClassVar[tuple[str, ...]] = ("imu", "wifi")
    default_conf: ClassVar[dict] = {
        **BASE_STEP_CONF,
        "mode": "offline",
        "filter": dict(PF_DEFAULTS),
        "fit_fix_noise": True,
        "bias_share": 0.6,
        "wifi_model": "log-distance",
        "wifi_stream": None,
        "wifi_weight": 0.03,
        "wifi_min_samples": 8,
        "wifi_floors": False,
        "fix_interval_s": 1.0,
        "seed": 0,
    }
    presets: ClassVar[dict[str, dict]] = {
        "online": {"mode": "online"},
        "offline": {"mode": "offline"},
        "mtloc": {"base": "mtloc"},
        # a few hundred particles and a short backward pass: seconds on a whole test split
        "quick": {"filter": {"particles": 500, "smoother_paths": 16}},
        # the base method's fixes only, without the per-access-point path-loss likelihood
        "fixes": {"wifi_model": None},
    }
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {"base_conf": (dict,), "base_preset": (str, list)}

    def _check_conf(self) -> None:
        self._check_base_and_steps()
        c = self.conf
        if c["mode"] not in MODES:
            raise ConfigError(f"pf conf 'mode' must be one of {list(MODES)}, got {c['mode']!r}")
        f = c["filter"]
        if not (isinstance(f["particles"], int) and f["particles"] >= 10):
            raise ConfigError(f"pf conf 'filter.particles' must be an int >= 10, got {f['particles']!r}")
        for key in ("fix_sigma_m", "bias_sigma_m", "grid_m", "wall_weight"):
            if f[key] is None or not f[key] > 0:
                raise ConfigError(f"pf conf 'filter.{key}' must be a positive number, got {f[key]!r}")
        if c["fix_interval_s"] is not None and not c["fix_interval_s"] >= 0:
            raise ConfigError(f"pf conf 'fix_interval_s' must be >= 0 or None, got {c['fix_interval_s']!r}")
        for key in ("floor_hit", "floor_switch", "floor_switch_anywhere", "resample_ess"):
            if f[key] is None or not 0 <= f[key] <= 1:
                raise ConfigError(f"pf conf 'filter.{key}' must be in [0, 1], got {f[key]!r}")
        if c["wifi_model"] not in (None, "log-distance"):
            raise ConfigError(f"pf conf 'wifi_model' must be None or 'log-distance', got {c['wifi_model']!r}")
        if c["bias_share"] is None or not 0 <= c["bias_share"] < 1:
            raise ConfigError(f"pf conf 'bias_share' must be in [0, 1), got {c['bias_share']!r}")

    # ------------------------------------------------------------------ fit
    def fit(self, train: Dataset, val: Dataset | None = None) -> ParticleLocalizer:
        """Train the base method, calibrate the steps, heading and (optionally) the fix error model."""
        from . import create

        c = self.conf
        base = create(c["base"], c["base_conf"], preset=c["base_preset"])
        base.fit(train, val)
        return self.fit_filter(train, base, val)

    def fit_filter(self, train: Dataset, base: Localizer, val: Dataset | None = None) -> ParticleLocalizer:
        """Use an already fitted ``base``: calibrate steps and heading on ``train``, the fix model on ``val``."""
        if not base.is_fitted:
            raise RuntimeError("fit_filter needs a fitted base method")
        c = self.conf
        self.base_ = base
        self._calibrate_steps(train)
        self.plans_ = {(int(p.building), int(p.floor)): p for p in train.floor_plans.values()}
        self.signal_model_ = self._fit_signal_model(train) if c["wifi_model"] else None
        self.fix_model_ = None
        if c["fit_fix_noise"]:
            ref = val if val is not None and len(val) else train
            ts, errs, hits = [], [], []
            from ..data.align import truth_at

            for rec in ref:
                est = base.predict(rec)
                inside = (est.t >= rec.t[0]) & (est.t <= rec.t[-1]) if len(rec.t) else np.zeros(len(est), bool)
                if inside.sum() < 2 or rec.position is None:
                    continue
                gt = truth_at(rec, est.t[inside])
                ts.append(est.t[inside])
                errs.append(est.position[inside, :2] - gt["position"][:, :2])
                if est.floor is not None and "floor" in gt:
                    hits.append(est.floor[inside] == gt["floor"])
            if sum(len(x) for x in ts) >= 4:
                self.fix_model_ = fix_error_model(ts, errs)
                if hits:
                    self.fix_model_["floor_hit"] = float(np.clip(np.mean(np.concatenate(hits)), 0.5, 0.999))
        return self

    def _fit_signal_model(self, train: Dataset):
        """Path-loss models of the training scans at their true positions (the ``wifi_model``)."""
        from ..data.align import truth_at
        from ..data.fingerprint import access_point_vocabulary, align_access_points
        from ..filters.signal_model import fit_log_distance

        c = self.conf
        streams = [
            (r, r.find_stream("wifi", c["wifi_stream"], required=False)) for r in train if r.position is not None
        ]
        streams = [(r, s) for r, s in streams if s is not None and len(s.t)]
        if not streams:
            return None
        ids = access_point_vocabulary([s for _, s in streams])
        xy, floor, rss = [], [], []
        for rec, s in streams:
            inside = (s.t >= rec.t[0]) & (s.t <= rec.t[-1])
            if not inside.any():
                continue
            gt = truth_at(rec, s.t[inside])
            xy.append(gt["position"][:, :2])
            floor.append(gt["floor"] if "floor" in gt else np.zeros(int(inside.sum()), dtype=np.int64))
            rss.append(align_access_points(s, ids)[inside])
        if not xy:
            return None
        return fit_log_distance(
            np.concatenate(xy), np.concatenate(floor), np.concatenate(rss), ids, min_samples=c["wifi_min_samples"]
        )

    def _filter_conf(self) -> dict:
        f = dict(self.conf["filter"])
        if self.fix_model_ is not None:
            m, share = self.fix_model_, float(self.conf["bias_share"])
            f.update(
                fix_sigma_m=max(m["sigma_m"] * np.sqrt(1.0 - share), 1e-3),
                bias_sigma_m=max(m["sigma_m"] * np.sqrt(share), 1e-3),
                bias_tau_s=m["tau_s"],
            )
            if "floor_hit" in m:
                f["floor_hit"] = m["floor_hit"]
        if self.heading_source_ != "orientation":
            f["init_offset_deg"] = None  # gyroscope heading: the offset is unknown
        return f

    # ------------------------------------------------------------------ predict
    def run(self, rec: Recording) -> dict:
        """Filter one recording; the fixes, the online and offline estimates and the filter itself.

        Returns
        -------
        dict with ``est`` (the base :class:`Estimate`), ``online`` (M, 2) metres and ``online_floor``
        (M,) at the base times, ``offline`` / ``offline_floor`` likewise (None in online mode),
        ``filter`` (the :class:`~omniloc.filters.ParticleFilter` at the end) and ``step_ms`` (mean
        time of one motion update, milliseconds).
        """
        import time

        c = self.conf
        fconf = self._filter_conf()
        imu = rec.find_stream("imu", c["imu_stream"], required=False)
        try:
            est = self.base_.predict(rec)
        except DataError:
            if imu is None:  # neither fixes nor steps
                raise
            est = Estimate(np.zeros(0, dtype=str), np.zeros(0), np.zeros((0, 3)))  # no fixes: steps on the map
        trace = None
        if imu is not None and len(imu.t) >= 2:
            t_start = float(est.t.min()) if len(est) else float(imu.t[0])
            trace = run_pdr(imu, max(min(t_start, float(imu.t[-1])), float(imu.t[0])), c["steps"])
        if len(est) == 0 and trace is not None and len(trace.step_t):
            # no fixes (no WiFi): dead reckoning on the map, estimates at the step times
            n = len(trace.step_t)
            est = Estimate(np.repeat(rec.name, n), trace.step_t.copy(), np.full((n, 3), np.nan))
        order = np.argsort(est.t, kind="stable")
        ft = est.t[order]
        fxy = est.position[order, :2]
        ffloor = est.floor[order] if est.floor is not None else None
        ok = np.all(np.isfinite(fxy), axis=1)
        use = self._thin(ft, ok)
        building = 0
        if est.building is not None and len(est.building):
            vals, counts = np.unique(est.building, return_counts=True)
            building = int(vals[np.argmax(counts)])
        plans = {f: p for (b, f), p in self.plans_.items() if b == building}
        pf = ParticleFilter(plans, fconf, seed=int(c["seed"]))
        t_first = float(ft[ok][0]) if ok.any() else (float(trace.t0) if trace is not None else 0.0)
        step_t = np.zeros(0)
        if trace is not None:
            step_t = trace.step_t
            lengths = self.step_length_k_ * trace.step_units
            stream = orientation_stream(rec, c["orientation_stream"]) if self.heading_source_ == "orientation" else None
            psi = absolute_heading(stream, step_t) if stream is not None else trace.heading_change_at(step_t)
        if ok.any():
            first = np.flatnonzero(ok)[0]
            floor0 = None if ffloor is None else int(ffloor[first])
            floors = list(plans) or [floor0 if floor0 is not None else 0]
            probs = None
            if floor0 is not None and floor0 in floors and len(floors) > 1:
                hit = float(fconf["floor_hit"])
                probs = np.where(np.asarray(floors) == floor0, hit, (1 - hit) / (len(floors) - 1))
            std0 = float(np.hypot(fconf["fix_sigma_m"], fconf["bias_sigma_m"]))
            pf.initialize(fxy[first], std0, floors, offset_rad=self.heading_offset_, t=t_first, floor_probs=probs)
        else:
            pf.initialize(None, 0.0, list(plans) or [0], offset_rad=self.heading_offset_, t=t_first)
        scan_t, scans = np.zeros(0), None
        sm = getattr(self, "signal_model_", None)
        wifi = rec.find_stream("wifi", c["wifi_stream"], required=False) if sm is not None else None
        if wifi is not None and len(wifi.t):
            from ..data.fingerprint import align_access_points

            scan_t, scans = np.asarray(wifi.t, dtype=np.float64), align_access_points(wifi, sm.ids)
        online = np.full((len(ft), 2), np.nan)
        online_floor = np.zeros(len(ft), dtype=np.int64)
        si, wi, step_s, n_steps = 0, 0, 0.0, 0
        for i in range(len(ft)):
            while si < len(step_t) and step_t[si] <= ft[i]:
                if step_t[si] > pf.t:
                    t0 = time.perf_counter()
                    pf.step(float(step_t[si]), float(lengths[si]), float(psi[si]))
                    step_s += time.perf_counter() - t0
                    n_steps += 1
                si += 1
            while wi < len(scan_t) and scan_t[wi] <= ft[i]:  # the scans up to this fix, under the AP models
                ll = sm.loglik(pf.xy, pf.floor, scans[wi], weight=float(c["wifi_weight"]))
                pf.update_loglik(ll, keep_floor_mass=not c["wifi_floors"])
                wi += 1
            if use[i]:
                if len(step_t) == 0:
                    pf.diffuse(float(ft[i]))
                pf.update_fix(float(ft[i]), fxy[i], None if ffloor is None else int(ffloor[i]))
            mean, fl, _ = pf.estimate()
            online[i], online_floor[i] = mean, fl
        while si < len(step_t):  # steps after the last fix still shape the smoothed path
            if step_t[si] > pf.t:
                pf.step(float(step_t[si]), float(lengths[si]), float(psi[si]))
            si += 1
        offline = offline_floor = None
        if c["mode"] == "offline":
            hist = pf.stored()
            sxy, sfl = smooth_particles(hist, fconf, seed=int(c["seed"]))
            offline = np.stack([np.interp(ft, hist.t, sxy[:, k]) for k in range(2)], axis=1)
            idx = np.clip(np.searchsorted(hist.t, ft, side="right") - 1, 0, len(hist.t) - 1)
            offline_floor = sfl[idx]
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        return {
            "est": est,
            "online": online[inv],
            "online_floor": online_floor[inv],
            "offline": None if offline is None else offline[inv],
            "offline_floor": None if offline_floor is None else offline_floor[inv],
            "filter": pf,
            "step_ms": 1000.0 * step_s / max(n_steps, 1),
        }

    def _thin(self, t: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Which of the sorted fixes at ``t`` (finite where ``ok``) update the filter: none closer than
        ``fix_interval_s`` to the last one used (windowed methods such as MTLoc give a fix every
        0.1 s from overlapping windows; their errors are one error, not ten independent ones)."""
        gap = float(self.conf["fix_interval_s"] or 0.0)
        use = ok.copy()
        if gap > 0:
            last = -np.inf
            for i in np.flatnonzero(ok):
                if t[i] - last < gap:
                    use[i] = False
                else:
                    last = t[i]
        return use

    def predict_recording(self, rec: Recording) -> Estimate:
        """Filtered (``online``) or smoothed (``offline``) positions at the base method's times."""
        out = self.run(rec)
        est = out["est"]
        if len(est) == 0:
            return est
        key = "offline" if self.conf["mode"] == "offline" else "online"
        position = est.position.copy()
        position[:, :2] = out[key]
        position[~np.isfinite(position[:, 2]), 2] = 0.0
        floor = out[f"{key}_floor"] if est.floor is not None or len(self.plans_) else est.floor
        return Estimate(est.recording, est.t, position, est.orientation, floor, est.building, None)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        return {
            **super()._get_state(),
            "fix_model_": self.fix_model_,
            "signal_model_": None if self.signal_model_ is None else self.signal_model_.to_json(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        from ..filters.signal_model import LogDistanceModel

        super()._set_state(state)
        sm = state.get("signal_model_")
        self.signal_model_ = None if sm is None else LogDistanceModel.from_json(sm)

    def _save_extra(self, folder: Path) -> None:
        folder = Path(folder)
        super()._save_extra(folder)
        plans = [p.to_json() for p in self.plans_.values()]
        (folder / "floor_plans.json").write_text(json.dumps(plans))
        rasters = {p.name: p.raster for p in self.plans_.values() if p.raster is not None}
        if rasters:
            np.savez_compressed(folder / "floor_rasters.npz", **rasters)

    def _load_extra(self, folder: Path) -> None:
        folder = Path(folder)
        super()._load_extra(folder)
        rasters = {}
        if (folder / "floor_rasters.npz").is_file():
            with np.load(folder / "floor_rasters.npz") as f:
                rasters = {k: f[k] for k in f.files}
        self.plans_ = {}
        for d in json.loads((folder / "floor_plans.json").read_text()):
            p = FloorPlan.from_json(d, rasters.get(d.get("name")), file=folder / "floor_plans.json")
            self.plans_[(int(p.building), int(p.floor))] = p
