"""Position regression on the shared training module: known losses, validation sums, batched inference."""

import numpy as np
import pytest
import torch

from omniloc.nn.regression import PositionRegressionModule, predict_positions
from omniloc.nn.sequence import IMURegressor, multimodal_regressor


class _Fixed(torch.nn.Module):
    """Predicts position (1, 2) and floor logits favouring class 1, whatever the input."""

    def __init__(self):
        super().__init__()
        self.floor_head = torch.nn.Linear(1, 2)
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, data):
        b = len(data["present"])
        return {
            "position": self.w * torch.tensor([[1.0, 2.0]]).expand(b, 2),
            "floor_logits": torch.tensor([[0.0, 10.0]]).expand(b, 2),
        }


def _data(n=4):
    return {
        "present": torch.ones(n, 1, dtype=torch.bool),
        "a": torch.zeros(n, 3),
        "target": torch.tensor([[1.0, 2.0], [1.0, 0.0], [4.0, 6.0], [1.0, 2.0]])[:n],
        "floor": torch.tensor([1, 0, 1, -100])[:n],
    }


def test_losses_and_validation_sums_have_known_values():
    m = PositionRegressionModule(
        _Fixed(),
        _data(),
        _data(),
        ["a"],
        [0.0],
        floor_weight=0.0,
        loss="mse",
        huber_delta=1.0,
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        position_scale=2.0,
    )
    loss, extra = m.loss([torch.arange(4)])
    assert loss.item() == pytest.approx((0 + 4 + 25 + 0) / 4) and extra["pos_loss"].item() == loss.item()
    huber = PositionRegressionModule(_Fixed(), _data(), None, ["a"], [0.0], 0.0, "huber", 1.0, "adam", 1e-3, 0.0, 1.0)
    # per axis: 0, 0 | 0, 1.5 (|2| > 1: 2 - 0.5) | 2.5, 3.5 | 0, 0
    assert huber.loss([torch.arange(4)])[0].item() == pytest.approx((1.5 + 2.5 + 3.5) / 4)
    sums = m.validation_sums([torch.arange(4)])
    # errors 0, 2, 5, 0 normalised -> x 2 m; floor hits: classes 1, 0, 1, unknown -> 2
    np.testing.assert_allclose(sums.detach().numpy(), [14.0, 4.0, 2.0])
    metrics = m.validation_metrics(sums)
    assert metrics["val_pos_err_m"].item() == pytest.approx(3.5) and metrics["val_floor_hit"].item() == 0.5
    # the floor term: labelled windows only; class 1 with logits (0, 10)
    with_floor = PositionRegressionModule(
        _Fixed(), _data(), None, ["a"], [0.0], 1.0, "mse", 1.0, "adam", 1e-3, 0.0, 1.0
    )
    ce = torch.nn.functional.cross_entropy(torch.tensor([[0.0, 10.0]] * 3), torch.tensor([1, 0, 1]), reduction="sum")
    total, extra = with_floor.loss([torch.arange(4)])
    assert float(extra["floor_ce"]) == pytest.approx(float(ce) / 3)
    assert total.item() == pytest.approx(29 / 4 + float(ce) / 3)


def test_gradients_and_batched_inference_match_the_network():
    torch.manual_seed(0)
    net = multimodal_regressor(
        {"imu": (10, 6), "wifi": (8,)}, lstm_hidden=4, mlp_hidden=(8, 4), fusion_hidden=4, n_floor_classes=3
    )
    n = 9
    scans = torch.randn(5, 8)
    data = {
        "present": torch.rand(n, 2) > 0.2,
        "imu": torch.randn(n, 10, 6),
        "wifi_scans": scans,
        "scan_index": torch.randint(0, 5, (n,)),
        "target": torch.randn(n, 2),
        "floor": torch.randint(0, 3, (n,)),
    }
    m = PositionRegressionModule(net, data, None, ["imu", "wifi"], [0.0, 0.0], 0.5, "mse", 1.0, "adam", 1e-3, 0.0, 1.0)
    loss, _ = m.loss([torch.arange(n)])
    loss.backward()
    assert all(p.grad is not None for n_, p in net.named_parameters() if "missing" not in n_)
    inputs = {"imu": data["imu"].numpy(), "wifi_scans": scans.numpy(), "scan_index": data["scan_index"].numpy()}
    rows = np.array([0, 2, 3, 8])
    xy, cls = predict_positions(net, inputs, data["present"].numpy(), rows, batch_size=3)
    with torch.no_grad():
        out = net({"imu": data["imu"][rows], "wifi": scans[data["scan_index"][rows]], "present": data["present"][rows]})
    np.testing.assert_allclose(xy, out["position"].numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(cls, out["floor_logits"].argmax(1).numpy())
    assert predict_positions(net, inputs, data["present"].numpy(), rows[:0], 3)[0].shape == (0, 2)


def test_single_input_regressor():
    torch.manual_seed(0)
    data = {
        "present": torch.ones(6, 1, dtype=torch.bool),
        "imu": torch.randn(6, 10, 2),
        "target": torch.randn(6, 2),
        "floor": torch.full((6,), -100),
    }
    m = PositionRegressionModule(
        IMURegressor(2, 4), data, None, ["imu"], [0.0], 0.0, "mse", 1.0, "rmsprop", 1e-3, 0.0, 1.0, single_input="imu"
    )
    loss, extra = m.loss([torch.arange(6)])
    expected = (m.net(data["imu"]) - data["target"]).square().sum(1).mean()
    assert loss.item() == pytest.approx(expected.item()) and "floor_ce" not in extra
