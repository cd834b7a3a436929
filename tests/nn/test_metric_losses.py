"""Metric losses: place masks, multi-similarity, batch-hard triplet, supervised contrastive."""

import math

import numpy as np
import pytest
import torch

from omniloc.nn.aggregation import l2_normalize
from omniloc.nn.metric_losses import multi_similarity_loss, place_masks, supervised_contrastive_loss, triplet_loss


# ---------------------------------------------------------------------------------------------- losses
def test_place_masks():
    pos, neg = place_masks(torch.tensor([0, 1, 3, 10]), pos_tol=1, neg_tol=2)
    assert pos.tolist() == [
        [True, True, False, False],
        [True, True, False, False],
        [False, False, True, False],
        [False, False, False, True],
    ]
    # |0 - 3| = 3 > 2 is a negative, |1 - 3| = 2 is neither
    assert neg[0].tolist() == [False, False, True, True] and neg[1].tolist() == [False, False, False, True]
    p2, n2 = place_masks(torch.tensor([0, 5]), 0, other=torch.tensor([0, 1, 5]))
    assert p2.tolist() == [[True, False, False], [False, False, True]] and n2.tolist() == [
        [False, True, True],
        [True, True, False],
    ]


def test_multi_similarity_loss_known_answer():
    d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]], dtype=torch.float64)
    # S01 = 0.6 (positive), S02 = 0.8, S12 = 0 (negatives). Anchor 0: the negative is kept
    # (0.8 + 0.1 > 0.6) and so is the positive (0.6 - 0.1 < 0.8). Anchor 1: its negative is easy
    # (0 + 0.1 <= 0.6), no mined negative: 0. Anchor 2 has no positive: 0.
    expected = (0.5 * math.log(1 + math.exp(-2 * (0.6 - 0.5))) + math.log(1 + math.exp(50 * 0.3)) / 50) / 3
    loss = multi_similarity_loss(d, torch.tensor([0, 0, 1]))
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    # the same with a positives mask
    pos = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    assert float(multi_similarity_loss(d, pos)) == pytest.approx(expected, rel=1e-12)


def test_multi_similarity_mining_drops_easy_positives():
    # anchor 0 only (the other rows have no positives): positives at S = 0.9 and 0.3, a negative at 0.5.
    # The easy positive (0.9 - 0.1 >= 0.5) is dropped; the negative is kept (0.5 + 0.1 > 0.3).
    e = torch.eye(4, dtype=torch.float64)
    d = torch.stack(
        [
            e[0],
            0.9 * e[0] + math.sqrt(0.19) * e[1],
            0.3 * e[0] + math.sqrt(0.91) * e[2],
            0.5 * e[0] + math.sqrt(0.75) * e[3],
        ]
    )
    pos = torch.zeros(4, 4, dtype=torch.bool)
    pos[0, 1] = pos[0, 2] = True
    neg = torch.zeros(4, 4, dtype=torch.bool)
    neg[0, 3] = True
    expected = (0.5 * math.log(1 + math.exp(-2 * (0.3 - 0.5))) + math.log(2.0) / 50) / 4
    assert float(multi_similarity_loss(d, pos, negatives=neg)) == pytest.approx(expected, rel=1e-12)
    # no hard pair at all: zero
    far = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert float(multi_similarity_loss(far, torch.tensor([0, 0, 1]))) == 0.0


def test_triplet_loss_batch_hard_known_answer():
    x = torch.tensor([[0.0], [1.0], [3.0], [3.5]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    # (hardest positive, hardest negative): (1, 3), (1, 2), (0.5, 2), (0.5, 2.5); margin 2.5
    assert float(triplet_loss(x, labels, margin=2.5)) == pytest.approx((0.5 + 1.5 + 1.0 + 0.5) / 4, rel=1e-9)
    soft = np.mean([math.log1p(math.exp(g)) for g in (-2.0, -1.0, -1.5, -2.0)])
    assert float(triplet_loss(x, labels, soft=True)) == pytest.approx(soft, rel=1e-9)
    # negatives restricted to a mask: anchor 0 now only sees point 3 as a negative
    neg = torch.zeros(4, 4, dtype=torch.bool)
    neg[0, 3] = True
    assert float(triplet_loss(x, labels, margin=2.5, negatives=neg)) == pytest.approx(1 - 3.5 + 2.5, abs=1e-9)
    # no anchor with a positive and a negative: a zero that still has a graph
    z = triplet_loss(x.clone().requires_grad_(), torch.tensor([0, 1, 2, 3]))
    assert float(z.detach()) == 0.0 and z.requires_grad


def test_supervised_contrastive_loss_known_answer():
    d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]], dtype=torch.float64)
    t = 0.5
    # anchor 0: positive 1 (S = 0.6) against {1, 2} (0.6, 0.8); anchor 1: positive 0 against (0.6, 0.0);
    # anchor 2 has no positive
    l0 = -(0.6 / t - math.log(math.exp(0.6 / t) + math.exp(0.8 / t)))
    l1 = -(0.6 / t - math.log(math.exp(0.6 / t) + math.exp(0.0 / t)))
    got = supervised_contrastive_loss(d, torch.tensor([0, 0, 1]), temperature=t)
    assert float(got) == pytest.approx((l0 + l1) / 2, rel=1e-12)
    # an ignored pair leaves the denominator: anchor 0 without the negative 2 has nothing to contrast
    neg = torch.zeros(3, 3, dtype=torch.bool)
    neg[1, 2] = True
    assert float(supervised_contrastive_loss(d, torch.tensor([0, 0, 1]), t, neg)) == pytest.approx(l1, rel=1e-12)
    none = supervised_contrastive_loss(d.clone().requires_grad_(), torch.tensor([0, 1, 2]))
    assert float(none.detach()) == 0.0 and none.requires_grad


def test_loss_gradchecks():
    g = torch.Generator().manual_seed(0)
    d = l2_normalize(torch.randn(6, 3, generator=g, dtype=torch.float64), dim=1).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2])

    def ms(t):
        return multi_similarity_loss(l2_normalize(t, dim=1), labels, beta=10.0, margin=0.5)

    assert float(ms(d).detach()) > 0
    assert torch.autograd.gradcheck(ms, (d,))
    assert torch.autograd.gradcheck(lambda t: triplet_loss(t, labels, margin=1.0), (d,))
    assert torch.autograd.gradcheck(lambda t: supervised_contrastive_loss(l2_normalize(t, dim=1), labels), (d,))
    with pytest.raises(ValueError, match="labels"):
        multi_similarity_loss(d, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="mask"):
        triplet_loss(d, torch.ones(2, 2, dtype=torch.bool))
