"""The Generative Map's networks and objective (Guo et al., Sec. 3.1-3.2, 3.4).

Three networks (:class:`GenerativeMapNet`): an image encoder ``q(z | I)`` and an image decoder
``p(I | z)`` in the DC-GAN style (:mod:`omniloc.nn.dcgan`), and a pose encoder ``p(z | p)``, a
3-layer MLP with 512 hidden units whose variance is fixed to 1. The loss of Eq. 3,

    L = E_q(z|I)[-log p(I | z)] + KL(q(z | I) || p(z | p)),

has a Gaussian reconstruction term with a fixed variance (the paper's best: ``e^-3``), estimated
with one reparameterised sample, and the closed-form KL divergence
(:func:`omniloc.nn.variational.kl_gaussians`).

Poses are 6-vectors ``[t, log q]`` in a normalised frame (:func:`omniloc.nn.pose.pose_vectors`): translation
relative to the training mean in units of one isotropic scale, rotation as the log-quaternion of
the rotation relative to the training mean rotation. A rotation has two logs (``q`` and ``-q``);
the pose encoder is trained on both (:func:`omniloc.nn.pose.pose_vectors` returns them), so that ``p(z | p)`` is
defined on the whole ball of radius pi and a filter's state may cross a half-turn without a jump.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .dcgan import DCGANDecoder, DCGANEncoder, PoseEncoder
from .training import TrainingModule
from .variational import kl_gaussians, reparameterize

__all__ = ["GenerativeMapNet", "GenerativeMapModule", "PoseEncoderModule", "generative_map_loss"]


class GenerativeMapNet(nn.Module):
    """Image encoder, image decoder and pose encoder (Fig. 2).

    Parameters
    ----------
    input_size : int
        Side of the (square) encoder input, pixels (paper: 96).
    output_size : int
        Side of the generated images (paper: 64).
    latent_dim : int
        ``D`` (paper: 128 for 7-Scenes).
    channels : int
        DC-GAN feature channels at the deepest layer (paper: 512).
    pose_hidden : int
        Hidden units of the pose encoder (paper: 512).
    pose_fourier_bands : int
        Octaves of the pose encoder's positional encoding (0: the raw pose, the paper's;
        :class:`omniloc.nn.dcgan.PoseEncoder`).
    """

    def __init__(
        self,
        input_size: int = 96,
        output_size: int = 64,
        latent_dim: int = 128,
        channels: int = 512,
        pose_hidden: int = 512,
        pose_fourier_bands: int = 0,
    ):
        super().__init__()
        self.encoder = DCGANEncoder(3, input_size, latent_dim, channels)
        self.decoder = DCGANDecoder(latent_dim, output_size, 3, channels)
        self.pose_encoder = PoseEncoder(6, latent_dim, pose_hidden, fixed_logvar=0.0, fourier_bands=pose_fourier_bands)
        self.input_size, self.output_size, self.latent_dim = int(input_size), int(output_size), int(latent_dim)

    def encode_image(self, image: torch.Tensor) -> dict:
        """``q(z | I)``: images (N, 3, S, S) in [-1, 1] -> ``mu``, ``logvar`` (N, D)."""
        return self.encoder(image)

    def encode_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """``p(z | p)``'s mean: normalised poses (..., 6) -> (..., D) (the filter's observation model g)."""
        return self.pose_encoder(pose)["mu"]

    def render(self, pose: torch.Tensor) -> torch.Tensor:
        """What the map expects at poses (N, 6): images (N, 3, output, output) in [-1, 1] (Sec. 4.1)."""
        return self.decoder(self.encode_pose(pose))

    def forward(self, data: dict) -> dict:
        """``image`` (N, 3, S, S) [-1, 1] -> ``mu``, ``logvar`` (N, D) of q(z | I) and ``recon`` (N, 3, O, O)
        decoded from one reparameterised sample (training) or the mean (eval)."""
        enc = self.encode_image(data["image"])
        z = reparameterize(enc["mu"], enc["logvar"]) if self.training else enc["mu"]
        return {**enc, "recon": self.decoder(z)}


def generative_map_loss(net: GenerativeMapNet, image_in, image_target, poses, recon_logvar: float) -> dict:
    """Eq. 3 per batch: Gaussian reconstruction NLL (fixed variance ``exp(recon_logvar)``, summed over
    pixels) + ``KL(q(z | I) || N(g(p), I))`` averaged over the pose representations given.

    Parameters
    ----------
    image_in : (N, 3, S, S) encoder inputs in [-1, 1]
    image_target : (N, 3, O, O) reconstruction targets in [-1, 1]
    poses : list of (N, 6) normalised pose tensors (both logs of each rotation)
    recon_logvar : float
        Log-variance of the image likelihood (paper: -3).

    Returns
    -------
    dict: ``loss`` (), ``recon`` () and ``kl`` () per image, nats.
    """
    out = net({"image": image_in})
    var = math.exp(recon_logvar)
    nll = 0.5 * ((out["recon"] - image_target).pow(2) / var + recon_logvar + math.log(2 * math.pi)).flatten(1).sum(1)
    kl = torch.stack([kl_gaussians(out["mu"], out["logvar"], net.encode_pose(p), 0.0) for p in poses]).mean(0)
    return {"loss": (nll + kl).mean(), "recon": nll.mean().detach(), "kl": kl.mean().detach()}


class GenerativeMapModule(TrainingModule):
    """Training of a :class:`GenerativeMapNet` on frames held in buffers (batches are index tensors).

    ``data`` / ``val``: ``image`` (N, S, S, 3) uint8 encoder inputs, ``target`` (N, O, O, 3) uint8,
    ``pose``, ``pose_alt`` (N, 6) float32. Validation reports the mean squared reconstruction error
    of the image decoded from the pose (the map reading), ``val_render_mse``, and the loss terms.
    """

    def __init__(self, net, data: dict, val: dict | None, recon_logvar: float, lr: float, weight_decay: float = 0.0):
        super().__init__(net, optimizer="adam", lr=lr, weight_decay=weight_decay)
        self.recon_logvar = float(recon_logvar)
        self.add_data("train", data)
        self.add_data("val", val)

    def _batch(self, split: str, idx):
        def img(key):
            return (self.data(split, key)[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous()

        return img("image"), img("target"), [self.data(split, "pose")[idx], self.data(split, "pose_alt")[idx]]

    def loss(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        res = generative_map_loss(self.net, *self._batch("train", idx), self.recon_logvar)
        return res["loss"], {"recon": float(res["recon"]), "kl": float(res["kl"])}

    def validation_sums(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        _, target, poses = self._batch("val", idx)
        rendered = self.net.render(poses[0])
        mse = (rendered - target).pow(2).flatten(1).mean(1)
        return torch.stack([mse.sum(), torch.tensor(float(len(idx)), device=mse.device)])

    def validation_metrics(self, sums):
        return {"val_render_mse": sums[0] / torch.clamp(sums[1], min=1.0)}


class PoseEncoderModule(TrainingModule):
    """More training of the pose encoder alone on Eq. 3 with the image networks fixed.

    With ``q(z | I)`` fixed, the pose encoder enters Eq. 3 only through its KL term, so this stage is
    block-coordinate descent on the same objective: ``KL(q(z | I) || N(g(p), I))`` (nats per image)
    over the latents ``mu``, ``logvar`` (N, D) of the training images, both logs of each rotation.
    ``net`` is the :class:`~omniloc.nn.dcgan.PoseEncoder`; validation reports the mean KL of the
    validation frames, ``val_pose_kl``. ``data`` / ``val``: ``mu``, ``logvar`` (N, D), ``pose``,
    ``pose_alt`` (N, 6).
    """

    def __init__(self, net, data: dict, val: dict | None, lr: float, cosine_steps: int | None = None):
        super().__init__(net, optimizer="adam", lr=lr, cosine_steps=cosine_steps)
        self.add_data("train", data)
        self.add_data("val", val)

    def _kl(self, split: str, idx) -> torch.Tensor:
        mu, logvar = self.data(split, "mu")[idx], self.data(split, "logvar")[idx]
        poses = (self.data(split, "pose")[idx], self.data(split, "pose_alt")[idx])
        return torch.stack([kl_gaussians(mu, logvar, self.net(p)["mu"], 0.0) for p in poses]).mean(0)

    def loss(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self._kl("train", idx).mean(), {}

    def validation_sums(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        kl = self._kl("val", idx)
        return torch.stack([kl.sum(), torch.tensor(float(len(idx)), device=kl.device)])

    def validation_metrics(self, sums):
        return {"val_pose_kl": sums[0] / torch.clamp(sums[1], min=1.0)}
