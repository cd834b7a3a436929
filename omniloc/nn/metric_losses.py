"""Metric-learning losses on a batch of unit descriptors with place labels.

* :func:`place_masks`: positive and negative pairs from place labels within frame tolerances;
* :func:`multi_similarity_loss`: Wang et al., "Multi-Similarity Loss with General Pair Weighting
  for Deep Metric Learning", CVPR 2019, Eq. 9-12 (with its pair mining);
* :func:`triplet_loss`: batch-hard mining (Hermans, Beyer, Leibe, "In Defense of the Triplet Loss
  for Person Re-Identification", 2017, Eq. 5), hinge or soft margin;
* :func:`supervised_contrastive_loss`: Khosla et al., "Supervised Contrastive Learning", NeurIPS
  2020, Eq. 2 (L_out).

Plain functions: tensors in, a scalar tensor out, device and dtype from the inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["place_masks", "multi_similarity_loss", "triplet_loss", "supervised_contrastive_loss"]


def place_masks(
    places: torch.Tensor, pos_tol: int = 0, neg_tol: int | None = None, other: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative pairs from place labels (frame indices).

    Parameters
    ----------
    places : (N,) int
    pos_tol : int
        ``|p_i - p_j| <= pos_tol``: positives.
    neg_tol : int, optional
        ``|p_i - p_j| > neg_tol``: negatives (default ``pos_tol``: every pair that is not positive).
    other : (M,) int, optional
        Places of the columns (default ``places``).

    Returns
    -------
    positives, negatives : (N, M) bool
        Disjoint; the diagonal counts as a positive when ``other`` is None (the losses drop it).
    """
    other = places if other is None else other
    d = (places[:, None].long() - other[None, :].long()).abs()
    neg_tol = pos_tol if neg_tol is None else neg_tol
    return d <= int(pos_tol), d > int(max(neg_tol, pos_tol))


def _pair_masks(n: int, labels: torch.Tensor, negatives: torch.Tensor | None, device) -> tuple:
    eye = torch.eye(n, dtype=torch.bool, device=device)
    if labels.dtype == torch.bool:
        if labels.shape != (n, n):
            raise ValueError(f"a positives mask must be ({n}, {n}), got {tuple(labels.shape)}")
        pos = labels
    else:
        if labels.shape != (n,):
            raise ValueError(f"labels must be ({n},), got {tuple(labels.shape)}")
        pos = labels[:, None] == labels[None, :]
    pos = pos & ~eye
    neg = (~pos if negatives is None else negatives & ~pos) & ~eye
    return pos, neg


def multi_similarity_loss(
    desc: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 50.0,
    lam: float = 0.5,
    margin: float = 0.1,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-similarity loss with its pair mining (Wang et al. 2019, Eq. 9-12).

    With cosine similarities ``S_ij = <d_i, d_j>`` (unit descriptors), the pairs of anchor ``i`` are
    mined first (without gradient): a negative ``j`` is kept when ``S_ij + margin > min_{k in P_i} S_ik``
    (Eq. 9), a positive when ``S_ij - margin < max_{k in N_i} S_ik`` (Eq. 10). Then (Eq. 12)

        L_i = 1/alpha log(1 + sum_{k in P~_i} e^{-alpha (S_ik - lam)})
            + 1/beta log(1 + sum_{k in N~_i} e^{beta (S_ik - lam)}),

    and the loss is ``sum_i L_i / N`` over the anchors with at least one mined positive and one mined
    negative (the others contribute 0, as in the authors' implementation).

    Parameters
    ----------
    desc : (N, D)
        L2-normalised descriptors.
    labels : (N,) int class labels, or (N, N) bool positives mask
        The diagonal is ignored.
    alpha, beta, lam, margin : float
        The paper's ``alpha = 2``, ``beta = 50``, ``lambda = 0.5`` (here ``lam``) and ``epsilon = 0.1``
        (here ``margin``).
    negatives : (N, N) bool, optional
        Negative pairs (default: every pair that is not positive).

    Returns
    -------
    scalar tensor
    """
    n = desc.shape[0]
    pos, neg = _pair_masks(n, labels, negatives, desc.device)
    sim = desc @ desc.T
    s = sim.detach()
    inf = torch.tensor(float("inf"), dtype=s.dtype, device=s.device)
    hardest_pos = torch.where(pos, s, inf).amin(1, keepdim=True)
    hardest_neg = torch.where(neg, s, -inf).amax(1, keepdim=True)
    mined_neg = neg & (s + margin > hardest_pos)
    mined_pos = pos & (s - margin < hardest_neg)
    zero = sim.new_zeros(n, 1)
    pos_term = torch.logsumexp(torch.cat([zero, torch.where(mined_pos, -alpha * (sim - lam), -inf)], 1), 1) / alpha
    neg_term = torch.logsumexp(torch.cat([zero, torch.where(mined_neg, beta * (sim - lam), -inf)], 1), 1) / beta
    valid = (mined_pos.any(1) & mined_neg.any(1)).to(sim.dtype)
    return ((pos_term + neg_term) * valid).sum() / max(n, 1)


def triplet_loss(
    desc: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.1,
    negatives: torch.Tensor | None = None,
    soft: bool = False,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017, Eq. 5).

    For every anchor, its farthest positive and its nearest negative in the batch (Euclidean
    distances): ``L_i = max(0, margin + max_p ||d_i - d_p|| - min_n ||d_i - d_n||)``, or with ``soft``
    ``log(1 + exp(max_p - min_n))``; averaged over the anchors that have a positive and a negative.

    Parameters
    ----------
    desc : (N, D)
    labels : (N,) int class labels, or (N, N) bool positives mask
    margin : float
    negatives : (N, N) bool, optional
        Negative pairs (default: every pair that is not positive).
    soft : bool
    eps : float
        Floor of the squared distances (a defined gradient at zero distance).

    Returns
    -------
    scalar tensor (0 when no anchor has both)
    """
    n = desc.shape[0]
    pos, neg = _pair_masks(n, labels, negatives, desc.device)
    d2 = (desc[:, None, :] - desc[None, :, :]).pow(2).sum(-1)
    d = torch.sqrt(d2.clamp(min=eps))
    inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        return desc.sum() * 0.0
    hardest_pos = torch.where(pos, d, -inf).amax(1)[valid]
    hardest_neg = torch.where(neg, d, inf).amin(1)[valid]
    gap = hardest_pos - hardest_neg
    per = F.softplus(gap) if soft else F.relu(gap + margin)
    return per.mean()


def supervised_contrastive_loss(
    desc: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, Eq. 2).

    ``L_i = -1/|P_i| sum_{p in P_i} log(exp(S_ip / t) / sum_{a in P_i + N_i} exp(S_ia / t))`` with cosine
    similarities ``S`` of unit descriptors; averaged over the anchors that have a positive and a
    negative. Pairs that are neither positive nor negative (e.g. places between ``pos_tol`` and
    ``neg_tol``) are left out of the denominator.

    Parameters
    ----------
    desc : (N, D)
        L2-normalised descriptors.
    labels : (N,) int class labels, or (N, N) bool positives mask
    temperature : float
        ``t``.
    negatives : (N, N) bool, optional
        Negative pairs (default: every pair that is not positive).

    Returns
    -------
    scalar tensor (0 when no anchor has both)
    """
    n = desc.shape[0]
    pos, neg = _pair_masks(n, labels, negatives, desc.device)
    logits = (desc @ desc.T) / float(temperature)
    inf = torch.tensor(float("inf"), dtype=logits.dtype, device=logits.device)
    log_denominator = torch.logsumexp(torch.where(pos | neg, logits, -inf), dim=1, keepdim=True)
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        return desc.sum() * 0.0
    log_prob = torch.where(pos, logits - log_denominator, torch.zeros_like(logits))
    per = -log_prob.sum(1) / pos.sum(1).clamp(min=1)
    return per[valid].mean()
