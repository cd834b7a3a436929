"""MVLoc: RGB + depth fused by a variational product of experts for 6-DoF camera pose regression.

Zhou, Chen, Wang, Markham, Trigoni, "MVLoc: Multimodal Variational Geometry-Aware Learning for
Visual Localization" (published as VMLoc, AAAI 2021); ``../shared/papers/mvloc.txt``.

Each camera frame (an RGB image and the depth image nearest in time, :func:`omniloc.data.frames.
camera_frames`) is encoded by one ResNet per modality into a Gaussian expert; the experts and the
prior ``N(0, I)`` are multiplied (PoE, Eq. 4-5), a latent is drawn, re-weighted by non-local
self-attention (Eq. 14-15) and decoded by two pose heads into a position and a log-quaternion
(Eq. 12). The network is :class:`omniloc.nn.camera_pose.CameraPoseNet`; its losses and the two
training stages are in :class:`omniloc.nn.camera_pose.CameraPoseModule`:

1. stage 1: the learned geometric loss ``L_p`` (Eq. 11, learnable ``beta``, ``gamma``) at the
   latent mean, no KL term, no sampling;
2. stage 2, with ``beta`` and ``gamma`` fixed: the importance-weighted bound with ``k`` samples
   and the DReG gradient (Eq. 13) for ``mvloc``, the standard single-sample VAE objective for
   ``mvloc-p``, and the same deterministic loss for ``mvloc-v`` and ``mvloc-c`` (so that every
   variant trains for the same epochs).

The Table 3 variants are registered names: ``mvloc-v`` (RGB only; the PoseNet / AtLoc-style
baseline), ``mvloc-c`` (concatenated features), ``mvloc-p`` (PoE, standard VAE objective) and
``mvloc`` (PoE, importance weighting). At prediction the latent mean gives the pose; for the PoE
variants ``predict.samples`` draws from the fused Gaussian give a position covariance.

Missing depth: a frame without a depth image (none within ``max_pair_dt_s``, or a recording
without a depth stream) has no depth expert; a blank depth image is an input like any other.

Poses are regressed in a normalised frame: positions relative to the training mean in units of one
isotropic scale, rotations relative to the training frames' mean rotation (``q = q_mean * exp(out)``),
so that the log-quaternion targets of Eq. 12 are centred. Orientations are ``world_from_device``
quaternions (the device frame: x forward along the optical axis, y left, z up; :mod:`omniloc.data.camera`).
"""

from __future__ import annotations

import copy
import time
from typing import Any, ClassVar  # noqa: F401

import numpy as np
import torch

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording
from ..data.frames import camera_frames
from ..data.transforms import quat_conjugate, quat_multiply
from ..nn.camera_pose import (
    CameraPoseModule,
    CameraPoseNet,
    normalise_images,
    position_covariance,
)
from ..nn.pose import PoseFrame, pose_vectors, poses_from_vectors
from ..nn.training import (
    OPTIMIZERS,
    RESUME,
    TRAINER_DEFAULTS,
    TRAINER_TYPES,
    fit_lightning,
    index_loaders,
    training_conf,
)
from ..nn.variational import ESTIMATORS
from ._neural import NeuralLocalizer

__all__ = ["MVLocLocalizer", "MVLocV", "MVLocC", "MVLocP", "VARIANTS"]

#: variant -> (modalities, fusion, stage-2 objective)
VARIANTS: dict[str, tuple[list[str], str, str]] = {
    "v": (["rgb"], "single", "deterministic"),
    "c": (["rgb", "depth"], "concat", "deterministic"),
    "p": (["rgb", "depth"], "poe", "vae"),
    "full": (["rgb", "depth"], "poe", "iw"),
}
#: conf keys that do not change what is trained (left out of the checkpoint fingerprint)
_NOT_FINGERPRINTED = ("predict", "early_stopping_patience", "stage1_epochs", "stage2_epochs")


class MVLocLocalizer(NeuralLocalizer):
    """MVLoc: RGB + depth experts, product-of-experts fusion, importance weighting (module docstring).

    One estimate per RGB frame, with position, orientation and, for the PoE variants, a position
    covariance.

    Configuration (``default_conf``, the paper's values where it gives them; nested sections merge
    key by key):

    * ``variant``: ``"full"`` (MVLoc), ``"p"``, ``"c"`` or ``"v"`` (see :data:`VARIANTS`); set by
      the registered names ``mvloc``, ``mvloc-p``, ``mvloc-c``, ``mvloc-v``.
    * ``streams``: stream name per modality, ``rgb``, ``depth``; None = the one
      :meth:`omniloc.data.Recording.find_stream` picks.
    * ``max_pair_dt_s``: a depth image pairs with an RGB image when this close in time, seconds.
    * ``image_size``: None (the recording's size) or ``[width, height]``: images are resized to it
      (area averaging for RGB, nearest for depth).
    * ``depth_max_m``: depth normalisation ``2 min(d / depth_max_m, 1) - 1`` (RGB: ``x / 127.5 - 1``).
    * ``backbone``: ``depth`` (18 or 34; paper 34), ``width`` (channels of the first stage; 64 is
      the standard ResNet), ``stem`` (``"imagenet"``: 7x7/2 convolution and max-pooling;
      ``"small"``: 3x3/1 for tiny images). The paper starts from ImageNet weights; none exist here,
      every encoder trains from scratch.
    * ``latent_dim``: ``D`` of the experts, the attention and the heads.
    * ``attention``: use the self-attention module (Eq. 14-15); ``attention_reduction``: its bottleneck.
    * ``head_hidden``: hidden units of each of the two pose heads; ``dropout``: before the heads (0.5).
    * ``beta0``, ``gamma0``: initial geometric-loss weights (-3, 0); ``loss_norm``: 1 or 2.
    * ``samples``: ``k`` of the importance weighting (20); ``lam``: ``lambda``, the weight of the
      latent term in the weights of Eq. 13 and of the KL term of ``mvloc-p`` (the paper gives no
      value); ``estimator``: ``"dreg"`` (Eq. 9, 13) or ``"iwae"``.
    * ``expert_dropout``: probability of removing the depth expert from a training frame in stage 2
      (MVAE-style sub-sampling, for robustness to absent depth; 0 = the paper).
    * ``stage1_epochs``, ``stage2_epochs``: the two training stages (epochs over the frames).
    * ``batch_size`` (64), ``lr`` (5e-5), ``weight_decay`` (5e-5), ``optimizer`` (Adam);
      ``stage2_lr``: learning rate of stage 2 (None = ``lr``, as the paper).
    * ``early_stopping_patience``: epochs without improvement of the validation position error
      before a stage stops (only with ``val``; None = all epochs). With ``val`` the weights of the
      best epoch over both stages are kept (stage 2 replaces stage 1's only where it does better
      on validation).
    * ``seed``: weights, batch order, samples (the caller's torch random state is not changed).
    * ``predict``: ``batch_size`` (frames per forward pass), ``samples`` (draws for the covariance;
      0 = none), ``seed``, ``drop_depth`` (``None``, ``"blank"``: depth replaced by a blank image,
      ``"absent"``: the depth expert dropped), for the robustness experiments.
    * ``trainer``: :data:`omniloc.nn.training.TRAINER_DEFAULTS` (accelerator, devices, strategy,
      num_nodes, process_group_backend, progress, checkpoint_dir with stage folders
      ``mvloc-stage1`` and ``mvloc-stage2``, resume).
    """

    name: ClassVar[str] = "mvloc"
    #: not picked automatically by ``suitable_methods`` (CNN training; the ``mvloc`` bench runs it)
    required_streams: ClassVar[tuple[str, ...]] = ()
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {
        **TRAINER_TYPES,
        "image_size": (type(None), list),
        "early_stopping_patience": (type(None), int),
        "stage2_lr": (type(None), float),
        "predict.drop_depth": (type(None), str),
    }
    default_conf: ClassVar[dict] = {
        "variant": "full",
        "streams": {"rgb": None, "depth": None},
        "max_pair_dt_s": 0.05,
        "image_size": None,
        "depth_max_m": 10.0,
        "backbone": {"depth": 34, "width": 64, "stem": "imagenet"},
        "latent_dim": 512,
        "attention": True,
        "attention_reduction": 8,
        "head_hidden": 256,
        "dropout": 0.5,
        "beta0": -3.0,
        "gamma0": 0.0,
        "loss_norm": 1,
        "samples": 20,
        "lam": 0.01,
        "estimator": "dreg",
        "expert_dropout": 0.0,
        "stage1_epochs": 100,
        "stage2_epochs": 50,
        "batch_size": 64,
        "lr": 5e-5,
        "stage2_lr": None,
        "weight_decay": 5e-5,
        "optimizer": "adam",
        "early_stopping_patience": None,
        "seed": 0,
        "predict": {"batch_size": 256, "samples": 20, "seed": 0, "drop_depth": None},
        "trainer": dict(TRAINER_DEFAULTS),
    }
    presets: ClassVar[dict[str, dict]] = {
        # the paper's settings are the defaults (ResNet-34, Adam 5e-5); named for clarity
        "paper": {},
        # from scratch on two CPU cores at 64x64: a narrow ResNet-18, a larger learning rate
        "cpu": {
            "backbone": {"depth": 18, "width": 16},
            "latent_dim": 128,
            "head_hidden": 128,
            "lr": 1e-3,
            "stage2_lr": 1e-4,
            "stage1_epochs": 20,
            "stage2_epochs": 6,
        },
        # seconds-long smoke runs (tests, --quick benches)
        "quick": {
            "backbone": {"depth": 18, "width": 8},
            "latent_dim": 32,
            "head_hidden": 32,
            "samples": 4,
            "lr": 3e-3,
            "stage1_epochs": 3,
            "stage2_epochs": 1,
            "batch_size": 32,
            "predict": {"samples": 4},
            "trainer": {"progress": False},
        },
    }

    # ------------------------------------------------------------------ configuration
    def _check_conf(self) -> None:
        c = self.conf
        choices = {
            "variant": tuple(VARIANTS),
            "estimator": ESTIMATORS,
            "optimizer": OPTIMIZERS,
            "backbone.depth": (18, 34),
            "backbone.stem": ("imagenet", "small"),
            "loss_norm": (1, 2),
            "predict.drop_depth": (None, "blank", "absent"),
            "trainer.resume": RESUME,
        }
        for key, allowed in choices.items():
            value = c[key] if "." not in key else c[key.split(".")[0]][key.split(".")[1]]
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")
        size = c["image_size"]
        if size is not None and (len(size) != 2 or any(not isinstance(v, int) or v < 16 for v in size)):
            raise ConfigError(f"image_size must be None or [width, height] with ints >= 16, got {size!r}")
        for key in ("latent_dim", "head_hidden", "samples", "batch_size", "attention_reduction"):
            if int(c[key]) < 1:
                raise ConfigError(f"{key} must be >= 1, got {c[key]!r}")
        if c["backbone"]["width"] < 1 or c["latent_dim"] < c["attention_reduction"]:
            raise ConfigError("backbone.width must be >= 1 and latent_dim >= attention_reduction")
        if not 0.0 <= float(c["dropout"]) < 1.0 or not 0.0 <= float(c["expert_dropout"]) < 1.0:
            raise ConfigError("dropout and expert_dropout must be in [0, 1)")
        if c["stage1_epochs"] < 0 or c["stage2_epochs"] < 0 or c["stage1_epochs"] + c["stage2_epochs"] < 1:
            raise ConfigError("stage1_epochs and stage2_epochs must be >= 0 with at least one epoch in all")
        if c["stage2_lr"] is not None and c["stage2_lr"] <= 0:
            raise ConfigError(f"stage2_lr must be None or positive, got {c['stage2_lr']!r}")
        if c["depth_max_m"] <= 0 or c["lam"] < 0 or c["max_pair_dt_s"] < 0:
            raise ConfigError("depth_max_m must be positive, lam and max_pair_dt_s non-negative")

    @property
    def modalities(self) -> list[str]:
        return VARIANTS[self.conf["variant"]][0]

    # ------------------------------------------------------------------ data
    def _frames(self, rec: Recording, labelled: bool, drop_depth: str | None = None) -> dict[str, np.ndarray]:
        """Images (resized), presence and truth of every RGB frame of ``rec``."""
        c = self.conf
        use_depth = "depth" in self.modalities and drop_depth != "absent"
        f = camera_frames(
            rec, c["streams"]["rgb"], c["streams"]["depth"], use_depth, float(c["max_pair_dt_s"]), labelled=labelled
        )
        rgb = f["rgb_stream"].load()[f["rgb_index"]]
        out = {"t": f["t"], "rgb": self._resize(rgb, "rgb")}
        n = len(f["t"])
        present = np.ones((n, len(self.modalities)), dtype=bool)
        if "depth" in self.modalities:
            h, w = out["rgb"].shape[1:3]
            depth = np.zeros((n, h, w), dtype=np.float32)
            has = f["depth_index"] >= 0
            if drop_depth is None and has.any():
                d = f["depth_stream"].load()[f["depth_index"][has]]
                depth[has] = self._resize(np.asarray(d, dtype=np.float32), "depth", (w, h))
            present[:, 1] = has if drop_depth is None else drop_depth == "blank"
            out["depth"] = depth
        out["present"] = present
        for key in ("position", "orientation"):
            if key in f:
                out[key] = f[key]
        return out

    def _resize(self, x: np.ndarray, modality: str, size=None) -> np.ndarray:
        size = size or self.conf["image_size"]
        if size is None or tuple(x.shape[1:3]) == (size[1], size[0]) or len(x) == 0:
            return np.ascontiguousarray(x)
        w, h = size
        t = torch.from_numpy(np.ascontiguousarray(x))
        if modality == "rgb":
            y = torch.nn.functional.interpolate(t.permute(0, 3, 1, 2).float(), size=(h, w), mode="area")
            return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        y = torch.nn.functional.interpolate(t.unsqueeze(1), size=(h, w), mode="nearest")
        return y[:, 0].numpy()

    def _frame(self) -> PoseFrame:
        return PoseFrame(self.position_mean_, self.position_scale_, self.rotation_mean_)

    def _tensors(self, frames: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        v, alt = pose_vectors(self._frame(), frames["position"], frames["orientation"])
        out = {
            "present": torch.tensor(frames["present"]),
            "position": torch.tensor(v[:, :3], dtype=torch.float32),
            "log_quat": torch.tensor(v[:, 3:], dtype=torch.float32),
            "log_quat_alt": torch.tensor(alt[:, 3:], dtype=torch.float32),
            "quat": torch.tensor(
                quat_multiply(quat_conjugate(self.rotation_mean_), frames["orientation"]), dtype=torch.float32
            ),
        }
        for m in self.modalities:
            out[m] = torch.tensor(frames[m])
        return out

    def _stack(self, data: Dataset, what: str) -> dict[str, np.ndarray]:
        parts = [self._frames(r, labelled=True) for r in data]
        parts = [p for p in parts if len(p["t"])]
        if not parts:
            raise DataError(f"the {what} dataset has no camera frames with ground-truth poses", field="rgb")
        shapes = {p["rgb"].shape[1:] for p in parts}
        if len(shapes) > 1:
            raise DataError(f"{what} images have different sizes {sorted(shapes)}; set image_size", field="image_size")
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "t"}

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        c = self.conf
        tr = self._stack(train, "training")
        self.image_shape_ = np.asarray(tr["rgb"].shape[1:3], dtype=np.int64)
        frame = PoseFrame.fit(tr["position"], tr["orientation"])
        self.position_mean_, self.position_scale_, self.rotation_mean_ = frame.mean, frame.scale, frame.rotation
        self.n_train_frames_ = int(len(tr["position"]))
        data = self._tensors(tr)
        val_data = None
        if val is not None and len(val):
            va = self._stack(val, "validation")
            if tuple(va["rgb"].shape[1:3]) != tuple(self.image_shape_):
                raise DataError("validation images differ in size from the training images; set image_size")
            val_data = self._tensors(va)
        self._net = self._build_net()
        modalities, fusion, objective = VARIANTS[c["variant"]]
        self.history_ = {}
        best = None  # (validation error, weights) of the best epoch so far, carried across the stages
        for stage, epochs, obj in (
            ("mvloc-stage1", int(c["stage1_epochs"]), "deterministic"),
            ("mvloc-stage2", int(c["stage2_epochs"]), objective),
        ):
            if epochs == 0:
                continue
            if stage == "mvloc-stage2":
                self._net.geometric.freeze()  # "we fixed the learnable weights in the regression loss"
            module = CameraPoseModule(
                self._net,
                data,
                val_data,
                obj,
                int(c["samples"]),
                float(c["lam"]),
                c["estimator"],
                float(c["depth_max_m"]),
                float(c["expert_dropout"]) if obj != "deterministic" else 0.0,
                self.position_scale_,
                optimizer=c["optimizer"],
                lr=float(c["lr"] if stage == "mvloc-stage1" or c["stage2_lr"] is None else c["stage2_lr"]),
                weight_decay=float(c["weight_decay"]),
            )
            if best is not None:
                module.best_val, module.best_state = best
            self._train(module, data, val_data, stage, epochs)
            if module.best_state is not None:
                best = (module.best_val, module.best_state)
            self.history_[stage] = [list(map(float, h)) for h in module.history]
        self.beta_ = float(self._net.geometric.beta.detach())
        self.gamma_ = float(self._net.geometric.gamma.detach())
        self._net.eval()

    def _build_net(self) -> CameraPoseNet:
        c = self.conf
        modalities, fusion, _ = VARIANTS[c["variant"]]
        b = c["backbone"]
        return CameraPoseNet(
            modalities,
            fusion,
            backbone_depth=int(b["depth"]),
            width=int(b["width"]),
            stem=b["stem"],
            latent_dim=int(c["latent_dim"]),
            attention=bool(c["attention"]),
            reduction=int(c["attention_reduction"]),
            hidden=int(c["head_hidden"]),
            dropout=float(c["dropout"]),
            beta0=float(c["beta0"]),
            gamma0=float(c["gamma0"]),
            loss_norm=int(c["loss_norm"]),
        )

    def _train(self, module, data, val_data, stage: str, epochs: int) -> None:
        c = self.conf
        n_val = None if val_data is None else len(val_data["position"])
        loader, val_loader, steps = index_loaders(len(data["position"]), int(c["batch_size"]), n_val)
        fit_lightning(
            module,
            loader,
            c["trainer"],
            stage,
            max_epochs=epochs,
            log_every_n_steps=steps,
            val_dataloader=val_loader,
            monitor="val_pos_err_m" if val_loader is not None else None,
            patience=c["early_stopping_patience"],
            fingerprint_conf=training_conf(self.conf, _NOT_FINGERPRINTED),
        )

    # ------------------------------------------------------------------ predict
    def predict_recording(self, rec: Recording) -> Estimate:
        """One estimate per RGB frame: ``position`` (M, 3) m, ``orientation`` (M, 4) w, x, y, z and,
        for the PoE variants with ``predict.samples`` > 1, ``covariance`` (M, 3, 3) m^2."""
        p = self.conf["predict"]
        f = self._frames(rec, labelled=False, drop_depth=p["drop_depth"])
        n = len(f["t"])
        if n and tuple(f["rgb"].shape[1:3]) != tuple(self.image_shape_):
            raise DataError(
                f"images of {rec.name!r} are {f['rgb'].shape[2]}x{f['rgb'].shape[1]}, the model was trained on "
                f"{self.image_shape_[1]}x{self.image_shape_[0]}; set image_size",
                field="rgb",
            )
        net = self._net.eval()
        device = next(net.parameters()).device
        gen = torch.Generator(device=device).manual_seed(int(p["seed"]))
        pos, quat, cov = np.zeros((n, 3)), np.zeros((n, 4)), np.zeros((n, 3, 3))
        with_cov = net.variational and int(p["samples"]) > 1
        bs = int(p["batch_size"])
        with torch.no_grad():
            for s in range(0, n, bs):
                sl = slice(s, s + bs)
                inputs = {"present": torch.tensor(f["present"][sl], device=device)}
                for m in self.modalities:
                    x = torch.from_numpy(np.ascontiguousarray(f[m][sl])).to(device)
                    inputs[m] = normalise_images(m, x, float(self.conf["depth_max_m"]))
                out = net(inputs)
                v = torch.cat([out["position"], out["log_quat"]], dim=-1).double().cpu().numpy()
                pos[sl], quat[sl] = poses_from_vectors(self._frame(), v)
                if with_cov:
                    cv = position_covariance(net, out["mu"], out["logvar"], int(p["samples"]), gen)
                    cov[sl] = cv.double().cpu().numpy()
        position = pos
        return Estimate(
            np.repeat(rec.name, n),
            f["t"],
            position,
            orientation=quat,
            covariance=cov * self.position_scale_**2 if with_cov else None,
        )

    def predict_missing_depth(self, data: Recording | Dataset, mode: str) -> Estimate:
        """:meth:`predict` with the depth of every frame missing (Table 4): ``mode`` ``"blank"``
        (depth replaced by a blank image, the paper's test) or ``"absent"`` (the depth expert
        dropped; MVLoc (C) gets zero depth features). ``self`` is unchanged."""
        if mode not in ("blank", "absent"):
            raise ConfigError(f"missing-depth mode must be 'blank' or 'absent', got {mode!r}")
        view = copy.copy(self)  # shares the learned state; only the predict conf differs
        view.conf = {**self.conf, "predict": {**self.conf["predict"], "drop_depth": mode}}
        return view.predict(data)

    def inference_ms_per_frame(self, rec: Recording, repeats: int = 20) -> float:
        """Wall time of one forward pass at batch size 1 (median of ``repeats``), milliseconds."""
        f = self._frames(rec, labelled=False)
        net = self._net.eval()
        inputs = {"present": torch.tensor(f["present"][:1])}
        for m in self.modalities:
            inputs[m] = normalise_images(m, torch.from_numpy(np.ascontiguousarray(f[m][:1])), self.conf["depth_max_m"])
        times = []
        with torch.no_grad():
            net(inputs)
            for _ in range(repeats):
                t0 = time.perf_counter()
                net(inputs)
                times.append(time.perf_counter() - t0)
        return float(np.median(times) * 1000)

    # ------------------------------------------------------------------ persistence
    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.position_mean_ = np.asarray(self.position_mean_, dtype=np.float64).reshape(3)
        self.image_shape_ = np.asarray(self.image_shape_, dtype=np.int64).reshape(2)
        self.position_scale_ = float(self.position_scale_)
        self.rotation_mean_ = np.asarray(self.rotation_mean_, dtype=np.float64).reshape(4)


def _variant(variant: str, label: str, doc: str) -> type[MVLocLocalizer]:
    conf = dict(MVLocLocalizer.default_conf, variant=variant)
    doc = f"{doc}\n\n    The configuration is MVLoc's, with ``variant`` = ``{variant!r}``:\n" + (
        MVLocLocalizer.__doc__ or ""
    )
    return type(label, (MVLocLocalizer,), {"name": f"mvloc-{variant}", "default_conf": conf, "__doc__": doc})


MVLocV = _variant("v", "MVLocV", "MVLoc (V): RGB only, one encoder, no fusion (the PoseNet / AtLoc-style baseline).")
MVLocC = _variant("c", "MVLocC", "MVLoc (C): RGB and depth features concatenated (no variational fusion).")
MVLocP = _variant(
    "p", "MVLocP", "MVLoc (P): PoE fusion trained with the standard VAE objective (no importance weighting)."
)
