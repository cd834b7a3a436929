"""Generative Map: a readable neural map (pose -> image) with Kalman-filter localization.

Guo, Matthes, Ye, Shen, "A Generative Map for Image-based Camera Localization"
(``../shared/papers/generative-map.txt``).

Training (Sec. 3.2) learns an image encoder ``q(z | I)``, an image decoder ``p(I | z)`` and a pose
encoder ``p(z | p)`` from posed RGB frames with the loss of Eq. 3
(:mod:`omniloc.nn.generative_map`). The map is read by decoding the pose encoder's latent at any
pose (:meth:`GenMapLocalizer.render`, ``omniloc render``).

Localization (Sec. 3.3) runs an extended Kalman filter (:class:`omniloc.filters.ExtendedKalmanFilter`)
over each recording's frames: the state is the normalised pose ``[t, log q]`` (6), the observation
is ``mu_z`` of ``q(z | I)`` with ``R = diag(sigma_z^2)`` from the same encoder, the observation
model ``g`` is the pose encoder's mean, with Jacobians by autograd (or finite differences, the
paper's), and the transition is constant or driven by odometry ``u = Delta p``
(``filter.transition``). ``Sigma_p0 = Q = sigma_q I`` as the paper. The filter's position
covariance is returned in ``Estimate.covariance`` (m^2).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording
from ..data.frames import camera_frames
from ..nn.generative_map import GenerativeMapModule, GenerativeMapNet, PoseEncoderModule
from ..nn.pose import PoseFrame, pose_vectors, poses_from_vectors
from ..nn.training import (
    RESUME,
    TRAINER_DEFAULTS,
    TRAINER_TYPES,
    fit_lightning,
    index_loaders,
    training_conf,
)
from ._neural import NeuralLocalizer

__all__ = ["GenMapLocalizer", "TRANSITIONS", "INITS"]

#: ``filter.transition`` choices
TRANSITIONS = ("constant", "odometry")
#: ``filter.init`` choices
INITS = ("truth", "retrieval")
_NOT_FINGERPRINTED = ("filter", "predict", "epochs", "early_stopping_patience")


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8 by area averaging (aspect not kept)."""
    if images.shape[1:3] == (size, size) or len(images) == 0:
        return np.ascontiguousarray(images)
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    y = torch.nn.functional.interpolate(t, size=(size, size), mode="area")
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _to_input(images: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous()


class GenMapLocalizer(NeuralLocalizer):
    """Generative Map (module docstring): a pose -> image map, localized by an EKF over each recording.

    Configuration (``default_conf``; the paper's values where it gives them):

    * ``stream``: the RGB stream name (None: the one ``find_stream`` picks).
    * ``input_size`` (96), ``output_size`` (64): encoder input and generated image sides, pixels.
    * ``latent_dim`` (128), ``channels`` (512, DC-GAN features), ``pose_hidden`` (512).
    * ``pose_fourier_bands``: octaves of the positional encoding the pose encoder reads (0: the raw
      pose, the paper's; not in the paper, see :class:`omniloc.nn.dcgan.PoseEncoder`).
    * ``recon_logvar``: log-variance of the Gaussian image likelihood (-3, the paper's best).
    * ``epochs``, ``batch_size``, ``lr`` (Adam 1e-4), ``weight_decay``; ``early_stopping_patience``
      (epochs without improvement of the validation rendering error; None = all epochs).
    * ``pose_epochs``: epochs of a last stage that trains the pose encoder alone on Eq. 3 with the
      image networks fixed (block-coordinate descent on the same objective, cheap: the images are
      encoded once; 0 = none, the paper's); ``pose_lr``: its Adam learning rate (cosine decay).
    * ``seed``: weights, batch order and samples.
    * ``filter``: the EKF. ``sigma_q``: ``Sigma_p0 = Q = sigma_q I`` (state units: normalised
      translation and log-quaternion); ``transition``: ``"constant"`` or ``"odometry"`` (``u = Delta p``
      from the stream ``odometry_stream``, kind ``vector``, (N, 7) positions m + quaternions w, x, y, z
      of an odometry trajectory, e.g. drifting visual odometry or PDR); ``odometry_stream``;
      ``init``: ``"truth"`` (the true first pose, the paper's setting) or ``"retrieval"`` (the pose of
      the training frame whose latent is nearest to the first frame's); ``init_deviation``: added
      to every dimension of the physical initial state (metres and log-quaternion, Table 3);
      ``jacobian``: ``"autograd"`` or ``"finite_difference"`` (the paper's); ``joseph``: Joseph-form
      covariance update; ``observation_noise``: ``R`` of an observation, ``"encoder"`` (the paper's:
      ``sigma_z^2`` of ``q(z | I)``) or ``"encoder+prior"`` (``sigma_z^2 + 1``: also the unit variance
      of ``p(z | p)``, the generative model's own spread of latents at a pose); ``iterations``:
      linearisations of ``g`` per update (1 = the paper's EKF, more = the iterated EKF).
    * ``predict``: ``batch_size`` (frames per encoder pass).
    * ``trainer``: :data:`omniloc.nn.training.TRAINER_DEFAULTS`: ``accelerator``, ``devices``,
      ``strategy``, ``num_nodes``, ``process_group_backend``, ``progress``, ``checkpoint_dir`` (stage
      folder ``genmap``) and ``resume``.
    """

    name: ClassVar[str] = "genmap"
    required_streams: ClassVar[tuple[str, ...]] = ()
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {
        **TRAINER_TYPES,
        "stream": (type(None), str),
        "early_stopping_patience": (type(None), int),
        "filter.odometry_stream": (type(None), str),
        "filter.init_deviation": (float, int),
    }
    default_conf: ClassVar[dict] = {
        "stream": None,
        "input_size": 96,
        "output_size": 64,
        "latent_dim": 128,
        "channels": 512,
        "pose_hidden": 512,
        "pose_fourier_bands": 0,
        "recon_logvar": -3.0,
        "epochs": 300,
        "batch_size": 64,
        "lr": 1e-4,
        "weight_decay": 0.0,
        "early_stopping_patience": None,
        "pose_epochs": 0,
        "pose_lr": 1e-3,
        "seed": 0,
        "filter": {
            "sigma_q": 1e-3,
            "transition": "constant",
            "odometry_stream": "odometry",
            "init": "truth",
            "init_deviation": 0.0,
            "jacobian": "autograd",
            "joseph": True,
            "observation_noise": "encoder",
            "iterations": 1,
        },
        "predict": {"batch_size": 256},
        "trainer": dict(TRAINER_DEFAULTS),
    }
    presets: ClassVar[dict[str, dict]] = {
        "paper": {},
        # from scratch on two CPU cores; the filter was chosen on the simulated office's validation walks
        "cpu": {
            "input_size": 64,
            "output_size": 64,
            "channels": 128,
            "lr": 1e-3,
            "epochs": 90,
            "pose_epochs": 60,
            "filter": {"sigma_q": 1e-2, "observation_noise": "encoder+prior"},
        },
        "quick": {
            "input_size": 32,
            "output_size": 32,
            "latent_dim": 16,
            "channels": 16,
            "pose_hidden": 32,
            "lr": 3e-3,
            "epochs": 3,
            "batch_size": 32,
            "trainer": {"progress": False},
        },
    }

    def _check_conf(self) -> None:
        c, f = self.conf, self.conf["filter"]
        for key, value, allowed in (
            ("filter.transition", f["transition"], TRANSITIONS),
            ("filter.init", f["init"], INITS),
            ("filter.jacobian", f["jacobian"], ("autograd", "finite_difference")),
            ("filter.observation_noise", f["observation_noise"], ("encoder", "encoder+prior")),
            ("trainer.resume", c["trainer"]["resume"], RESUME),
        ):
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")
        for key in ("input_size", "output_size"):
            if c[key] < 8 or c[key] & (c[key] - 1) and c[key] % 32:
                raise ConfigError(f"{key} must be >= 8 and a power of two (or a multiple of 32), got {c[key]!r}")
        if f["iterations"] < 1:
            raise ConfigError(f"filter.iterations must be >= 1, got {f['iterations']!r}")
        if f["sigma_q"] <= 0 or c["epochs"] < 1 or c["latent_dim"] < 1 or c["channels"] < 1:
            raise ConfigError("filter.sigma_q must be positive; epochs, latent_dim and channels >= 1")

    # ------------------------------------------------------------------ data
    def _frames(self, rec: Recording, labelled: bool) -> dict:
        f = camera_frames(rec, self.conf["stream"], use_depth=False, labelled=labelled)
        rgb = f["rgb_stream"].load()[f["rgb_index"]]
        out = {"t": f["t"], "rgb": rgb}
        for key in ("position", "orientation"):
            if key in f:
                out[key] = f[key]
        return out

    def _tensors(self, parts: list[dict]) -> dict[str, torch.Tensor]:
        rgb = np.concatenate([p["rgb"] for p in parts])
        pos = np.concatenate([p["position"] for p in parts])
        quat = np.concatenate([p["orientation"] for p in parts])
        v, alt = pose_vectors(self._frame(), pos, quat)
        return {
            "image": torch.tensor(_resize(rgb, self.conf["input_size"])),
            "target": torch.tensor(_resize(rgb, self.conf["output_size"])),
            "pose": torch.tensor(v, dtype=torch.float32),
            "pose_alt": torch.tensor(alt, dtype=torch.float32),
        }

    def _frame(self) -> PoseFrame:
        return PoseFrame(self.position_mean_, self.position_scale_, self.rotation_mean_)

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        c = self.conf
        parts = [p for p in (self._frames(r, labelled=True) for r in train) if len(p["t"])]
        if not parts:
            raise DataError("the training dataset has no RGB frames with ground-truth poses", field="rgb")
        frame = PoseFrame.fit(
            np.concatenate([p["position"] for p in parts]), np.concatenate([p["orientation"] for p in parts])
        )
        self.position_mean_, self.position_scale_, self.rotation_mean_ = frame.mean, frame.scale, frame.rotation
        data = self._tensors(parts)
        val_data = None
        if val is not None and len(val):
            vparts = [p for p in (self._frames(r, labelled=True) for r in val) if len(p["t"])]
            val_data = self._tensors(vparts) if vparts else None
        self._net = self._build_net()
        module = GenerativeMapModule(self._net, data, val_data, c["recon_logvar"], c["lr"], c["weight_decay"])
        n = len(data["pose"])
        n_val = None if val_data is None else len(val_data["pose"])
        loader, val_loader, steps = index_loaders(n, int(c["batch_size"]), n_val)
        fit_lightning(
            module,
            loader,
            c["trainer"],
            "genmap",
            max_epochs=int(c["epochs"]),
            log_every_n_steps=steps,
            val_dataloader=val_loader,
            monitor="val_render_mse" if val_loader is not None else None,
            patience=c["early_stopping_patience"],
            fingerprint_conf=training_conf(c, _NOT_FINGERPRINTED),
        )
        self.history_ = [list(map(float, h)) for h in module.history]
        self._net.eval()
        latents = self._latents(data)
        if int(c["pose_epochs"]) > 0:
            self._fit_pose_encoder(latents, None if val_data is None else self._latents(val_data))
        # latent index of the training frames for the "retrieval" initialisation (at most 4096)
        keep = np.linspace(0, n - 1, min(n, 4096)).astype(int)
        self.index_latent_ = latents["mu"][keep].numpy().astype(np.float32)
        self.index_pose_ = data["pose"][keep].numpy().astype(np.float64)

    def _latents(self, data: dict) -> dict[str, torch.Tensor]:
        """``q(z | I)`` of buffered frames: ``mu``, ``logvar`` (N, D) with the frames' ``pose``, ``pose_alt``."""
        bs = int(self.conf["predict"]["batch_size"])
        with torch.no_grad():
            enc = [
                self._net.encode_image(_to_input(data["image"][i : i + bs].numpy()))
                for i in range(0, len(data["image"]), bs)
            ]
        return {
            "mu": torch.cat([e["mu"] for e in enc]),
            "logvar": torch.cat([e["logvar"] for e in enc]),
            "pose": data["pose"],
            "pose_alt": data["pose_alt"],
        }

    def _fit_pose_encoder(self, latents: dict, val_latents: dict | None) -> None:
        """The ``pose_epochs`` stage: Eq. 3 for the pose encoder alone (:class:`PoseEncoderModule`)."""
        c = self.conf
        n = len(latents["mu"])
        n_val = None if val_latents is None else len(val_latents["mu"])
        loader, val_loader, steps = index_loaders(n, int(c["batch_size"]), n_val)
        epochs = int(c["pose_epochs"])
        module = PoseEncoderModule(self._net.pose_encoder, latents, val_latents, c["pose_lr"], steps * epochs)
        fit_lightning(
            module,
            loader,
            c["trainer"],
            "genmap-pose",
            max_epochs=epochs,
            log_every_n_steps=steps,
            val_dataloader=val_loader,
            monitor="val_pose_kl" if val_loader is not None else None,
            fingerprint_conf=training_conf(c, _NOT_FINGERPRINTED),
        )
        self.pose_history_ = [list(map(float, h)) for h in module.history]

    def _build_net(self) -> GenerativeMapNet:
        c = self.conf
        return GenerativeMapNet(
            c["input_size"], c["output_size"], c["latent_dim"], c["channels"], c["pose_hidden"], c["pose_fourier_bands"]
        )

    # ------------------------------------------------------------------ predict
    def encode(self, rec: Recording) -> dict[str, np.ndarray]:
        """``q(z | I)`` of every RGB frame: ``t`` (M,), ``mu``, ``logvar`` (M, D)."""
        f = self._frames(rec, labelled=False)
        imgs = _resize(f["rgb"], self.conf["input_size"])
        mus, lvs = [], []
        bs = int(self.conf["predict"]["batch_size"])
        with torch.no_grad():
            for s in range(0, len(imgs), bs):
                enc = self._net.encode_image(_to_input(imgs[s : s + bs]))
                mus.append(enc["mu"].double().numpy())
                lvs.append(enc["logvar"].double().numpy())
        d = self.conf["latent_dim"]
        return {
            "t": f["t"],
            "mu": np.concatenate(mus) if mus else np.zeros((0, d)),
            "logvar": np.concatenate(lvs) if lvs else np.zeros((0, d)),
            "frames": f,
        }

    def _initial_state(self, rec: Recording, t0: float, mu0: np.ndarray) -> np.ndarray:
        fc = self.conf["filter"]
        if fc["init"] == "truth":
            from ..data import truth_at

            if rec.position is None or rec.orientation is None:
                raise DataError(f"filter.init='truth' needs ground truth in recording {rec.name!r}", field="position")
            tr = truth_at(rec, [t0])
            pos, quat = tr["position"], tr["orientation"]
        else:
            pos, quat = self._nearest_training_pose(mu0[None])
        d = float(fc["init_deviation"])
        if d:  # the deviation is in physical units (metres, log-quaternion), as the paper's Table 3
            pos = pos + d
            v = pose_vectors(self._frame(), pos, quat)[0]
            v[:, 3:] += d
            return v[0]
        return pose_vectors(self._frame(), pos, quat)[0][0]

    def _nearest_training_pose(self, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Poses (M, 3) m, (M, 4) of the training frames whose ``q(z | I)`` means are nearest to ``mu`` (M, D)."""
        d = ((mu[:, None, :] - self.index_latent_[None].astype(np.float64)) ** 2).sum(-1)
        return poses_from_vectors(self._frame(), self.index_pose_[np.argmin(d, axis=1)])

    def retrieve(self, rec: Recording) -> Estimate:
        """Each frame's pose by retrieval alone: the pose of the training frame with the nearest latent.

        A diagnostic of the image encoder (no pose encoder, no filter): it shows how much pose the
        latents carry, against which the filter's use of the map can be judged.
        """
        self._check_fitted()
        enc = self.encode(rec)
        pos, quat = [], []
        for s in range(0, len(enc["t"]), 256):
            p, q = self._nearest_training_pose(enc["mu"][s : s + 256])
            pos.append(p)
            quat.append(q)
        n = len(enc["t"])
        if n == 0:
            return Estimate(np.zeros(0, dtype=str), np.zeros(0), np.zeros((0, 3)), orientation=np.zeros((0, 4)))
        return Estimate(np.repeat(rec.name, n), enc["t"], np.concatenate(pos), orientation=np.concatenate(quat))

    def _odometry_controls(self, rec: Recording, t: np.ndarray) -> np.ndarray:
        """``u_t = v(odometry at t) - v(odometry at t - 1)`` in the normalised state space (T, 6)."""
        name = self.conf["filter"]["odometry_stream"]
        s = rec.find_stream("vector", name)
        vals = np.asarray(s.load(), dtype=np.float64)
        if vals.ndim != 2 or vals.shape[1] != 7:
            raise DataError(f"odometry stream must be (N, 7) positions + quaternions, got {vals.shape}", field=name)
        idx = np.clip(np.searchsorted(s.t, t), 0, len(s.t) - 1)
        v, alt = pose_vectors(self._frame(), vals[idx, :3], vals[idx, 3:])
        u = np.zeros_like(v)
        d = np.diff(v, axis=0)
        d_alt = alt[1:] - v[:-1]
        jump = np.linalg.norm(d[:, 3:], axis=1) > np.linalg.norm(d_alt[:, 3:], axis=1)
        d[jump] = d_alt[jump]
        u[1:] = d
        return u

    def predict_recording(self, rec: Recording) -> Estimate:
        """Filtered pose at every RGB frame, with the filter's position covariance (m^2)."""
        from ..filters import ExtendedKalmanFilter, additive_transition, constant_transition

        fc = self.conf["filter"]
        enc = self.encode(rec)
        t, mu, logvar = enc["t"], enc["mu"], enc["logvar"]
        n = len(t)
        if n == 0:
            return Estimate(np.zeros(0, dtype=str), np.zeros(0), np.zeros((0, 3)), orientation=np.zeros((0, 4)))
        odometry = fc["transition"] == "odometry"
        us = self._odometry_controls(rec, t) if odometry else None
        net = self._net.double()
        try:
            g = net.encode_pose
            ekf = ExtendedKalmanFilter(
                additive_transition if odometry else constant_transition,
                g,
                torch.eye(6, dtype=torch.float64) * float(fc["sigma_q"]),
                jacobian_method=fc["jacobian"],
                joseph=bool(fc["joseph"]),
                iterations=int(fc["iterations"]),
            )
            x0 = torch.tensor(self._initial_state(rec, float(t[0]), mu[0]))[None]
            P0 = torch.eye(6, dtype=torch.float64)[None] * float(fc["sigma_q"])
            out = ekf.run(
                x0,
                P0,
                torch.tensor(mu)[:, None],
                (torch.exp(torch.tensor(logvar)) + (1.0 if fc["observation_noise"] == "encoder+prior" else 0.0))[
                    :, None
                ],
                us=None if us is None else torch.tensor(us)[:, None],
            )
        finally:
            self._net.float()
        x = out["x"][:, 0].detach().numpy()
        P = out["P"][:, 0].detach().numpy()
        position, orientation = poses_from_vectors(self._frame(), x)
        cov = P[:, :3, :3] * self.position_scale_**2
        return Estimate(np.repeat(rec.name, n), t, position, orientation=orientation, covariance=cov)

    # ------------------------------------------------------------------ map reading
    def render(self, position: np.ndarray, orientation: np.ndarray) -> np.ndarray:
        """What the map expects to see at poses: (N, 3) m, (N, 4) w, x, y, z -> (N, S, S, 3) uint8 images."""
        self._check_fitted()
        v = pose_vectors(self._frame(), np.atleast_2d(position), np.atleast_2d(orientation))[0]
        with torch.no_grad():
            img = self._net.render(torch.tensor(v, dtype=torch.float32))
        return ((img.permute(0, 2, 3, 1).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)

    def step_ms(self, rec: Recording, repeats: int = 50) -> float:
        """Median wall time of one EKF step (predict + update, autograd Jacobian) on this machine, ms."""
        from ..filters import ExtendedKalmanFilter, constant_transition

        enc = self.encode(rec)
        net = self._net.double()
        try:
            ekf = ExtendedKalmanFilter(
                constant_transition,
                net.encode_pose,
                torch.eye(6, dtype=torch.float64) * 1e-3,
                jacobian_method=self.conf["filter"]["jacobian"],
            )
            x = torch.tensor(self.index_pose_[:1])
            P = torch.eye(6, dtype=torch.float64)[None] * 1e-3
            z = torch.tensor(enc["mu"][:1])
            R = torch.exp(torch.tensor(enc["logvar"][:1]))
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                ekf.step(x, P, z, R)
                times.append(time.perf_counter() - t0)
        finally:
            self._net.float()
        return float(np.median(times) * 1000)

    # ------------------------------------------------------------------ persistence
    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.position_mean_ = np.asarray(self.position_mean_, dtype=np.float64).reshape(3)
        self.rotation_mean_ = np.asarray(self.rotation_mean_, dtype=np.float64).reshape(4)
        self.position_scale_ = float(self.position_scale_)
