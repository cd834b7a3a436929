"""Image augmentation: identity when off, known answers, seeding, bounds."""

import pytest
import torch

from omniloc import ConfigError
from omniloc.nn.augment import AUGMENT_DEFAULTS, augment
from omniloc.nn.training import seeded

OFF = {k: 0.0 for k in AUGMENT_DEFAULTS}


# ---------------------------------------------------------------------------------------------- augmentation
def test_augment_off_is_identity_and_brightness_known_answer():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 8, 16, generator=g) * 2 - 1
    torch.testing.assert_close(augment(x, OFF), x)
    only = dict(OFF, brightness=0.5)
    f = 0.5 + torch.rand(4, generator=torch.Generator().manual_seed(3))  # U(1 - 0.5, 1 + 0.5)
    expected = (((x + 1) / 2) * f[:, None, None, None]).clamp(0, 1) * 2 - 1
    torch.testing.assert_close(augment(x, only, torch.Generator().manual_seed(3)), expected)
    grey = augment(x, dict(OFF, grey=1.0))
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    torch.testing.assert_close(
        grey[:, 0], ((x + 1) / 2 * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1) * 2 - 1
    )


def test_augment_is_seeded_bounded_and_leaves_the_global_generator():
    x = torch.rand(6, 3, 16, 32) * 2 - 1
    state = torch.random.get_rng_state()
    a = augment(x, None, torch.Generator().manual_seed(1))
    assert torch.equal(torch.random.get_rng_state(), state)
    b = augment(x, None, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.shape == x.shape and a.dtype == x.dtype and float(a.min()) >= -1 and float(a.max()) <= 1
    assert not torch.allclose(a, x)
    with seeded(5):
        c1 = augment(x)
    with seeded(5):
        c2 = augment(x)
    torch.testing.assert_close(c1, c2, rtol=0, atol=0)
    # a shift moves the content: a half-image shift of a left/right split image
    img = torch.cat([-torch.ones(1, 3, 4, 8), torch.ones(1, 3, 4, 8)], dim=3)
    shifted = augment(img, dict(OFF, shift=0.5), torch.Generator().manual_seed(0))
    assert not torch.allclose(shifted, img)
    assert augment(x[:0]).shape == (0, 3, 16, 32)
    with pytest.raises(ConfigError, match="unknown"):
        augment(x, {"hue": 0.1})
