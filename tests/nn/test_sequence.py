"""Sequence / fusion blocks: shapes, gradients to every parameter, masking, modality dropout, counts."""

import pytest
import torch

from omniloc.nn.encoders import MLP
from omniloc.nn.sequence import (
    IMURegressor,
    LSTMEncoder,
    MaskedBranch,
    MultimodalRegressor,
    access_point_dropout,
    format_parameter_table,
    modality_dropout,
    parameter_rows,
    warm_start_fusion,
)


def _assert_grads(module):
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def _check_forward_backward(module, x, out_shape):
    """Output shape, then a gradient reaches every parameter."""
    out = module(x)
    assert out.shape == out_shape
    out.square().sum().backward()
    _assert_grads(module)


def test_lstm_encoder_shape_gradients_and_pytorch_parameter_count():
    torch.manual_seed(0)
    enc = LSTMEncoder(6, 16)
    _check_forward_backward(enc, torch.randn(5, 10, 6), (5, 16))
    # Keras: 4 * (H * (C + H) + H); PyTorch has b_ih and b_hh: 4 * H more
    assert sum(p.numel() for p in enc.parameters()) == 4 * (16 * (6 + 16) + 16) + 4 * 16
    assert sum(p.numel() for p in LSTMEncoder(2, 128).parameters()) == 67_072 + 512  # Table I IMU-LSTM + b_hh


def test_lstm_encoder_is_the_last_hidden_state():
    torch.manual_seed(0)
    enc = LSTMEncoder(3, 4)
    x = torch.randn(2, 7, 3)
    seq, _ = enc.lstm(x)
    torch.testing.assert_close(enc(x), seq[:, -1])


def test_masked_branch_output_does_not_depend_on_masked_inputs():
    torch.manual_seed(0)
    br = MaskedBranch(MLP(4, 8, (8,)))
    with torch.no_grad():
        br.missing.copy_(torch.arange(8.0))
    present = torch.tensor([True, False, True, False])
    x1 = torch.randn(4, 4)
    x2 = x1.clone()
    x2[~present] = torch.tensor([float("nan"), float("inf"), 1e6, -3.0])
    o1, o2 = br(x1, present), br(x2, present)
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(o1[1], torch.arange(8.0))
    torch.testing.assert_close(o1[0], br.encoder(x1[:1])[0])
    # sequences (B, T, C) too, and gradients reach the encoder and the missing embedding, finite
    seq = MaskedBranch(LSTMEncoder(3, 5))
    xs = torch.randn(3, 10, 3)
    xs[1] = float("nan")
    out = seq(xs, torch.tensor([True, False, True]))
    assert torch.isfinite(out).all()
    (out - 1).square().sum().backward()
    _assert_grads(seq)


def test_modality_dropout_statistics():
    torch.manual_seed(0)
    present = torch.ones(20_000, 3, dtype=torch.bool)
    present[:5000, 1] = False  # absent stays absent
    out = modality_dropout(present, [0.1, 0.5, 0.0])
    assert not out[:5000, 1].any()
    assert abs(1 - out[:, 0].float().mean().item() - 0.1) < 0.01
    assert abs(1 - out[5000:, 1].float().mean().item() - 0.5) < 0.015
    assert out[:, 2].all()
    assert torch.equal(modality_dropout(present, [0.0, 0.0, 0.0]), present)
    g1 = modality_dropout(present, [0.3] * 3, torch.Generator().manual_seed(5))
    g2 = modality_dropout(present, [0.3] * 3, torch.Generator().manual_seed(5))
    assert torch.equal(g1, g2)


def _net(n_floor=3):
    return MultimodalRegressor(
        {"imu": LSTMEncoder(6, 8), "magnetometer": LSTMEncoder(3, 8), "wifi": MLP(10, 8, (8,))},
        fusion_hidden=8,
        n_floor_classes=n_floor,
    )


def test_multimodal_regressor_shapes_and_gradients_to_every_parameter():
    torch.manual_seed(0)
    net = _net()
    inputs = {"imu": torch.randn(6, 10, 6), "magnetometer": torch.randn(6, 10, 3), "wifi": torch.randn(6, 10)}
    present = torch.tensor([[1, 1, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.bool)
    out = net({**inputs, "present": present})
    pos, logits = out["position"], out["floor_logits"]
    assert pos.shape == (6, 2) and logits.shape == (6, 3)
    (pos.square().sum() + logits.logsumexp(1).sum()).backward()
    _assert_grads(net)
    # no floor head with fewer than two classes
    single = _net(1)
    assert single.floor_head is None and single({**inputs, "present": present})["floor_logits"] is None


def test_parameter_rows_sum_to_the_module_and_format():
    net = _net()
    rows = net.parameter_rows({"imu": (10, 6), "magnetometer": (10, 3), "wifi": (10,)})
    assert sum(r[2] for r in rows) == sum(p.numel() for p in net.parameters())
    names = [r[0] for r in rows]
    assert names[:4] == ["input (imu)", "LSTM (imu)", "missing embedding (imu)", "input (magnetometer)"]
    assert ("fusion (concat)", (24,), 0) in rows and names[-1] == "FC floor"
    text = format_parameter_table(rows, "t")
    assert text.splitlines()[0] == "t" and f"{sum(r[2] for r in rows):,}" in text.splitlines()[-1]
    assert sum(r[2] for r in parameter_rows(net)) == sum(r[2] for r in rows)


def test_imu_regressor_gradients():
    torch.manual_seed(0)
    _check_forward_backward(IMURegressor(2, 8), torch.randn(4, 10, 2), (4, 2))
    with pytest.raises(ValueError, match="at least one"):
        MultimodalRegressor({})


def test_access_point_dropout_hides_every_column_of_an_access_point():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(1.0, 1.0 + 2 * 2 * 500).reshape(2, 1000)  # 2 samples, 500 APs, two groups (RSS, mask)
    y = access_point_dropout(x, 0.3, 500, generator=g)
    rss_kept, mask_kept = y[:, :500] != 0, y[:, 500:] != 0
    assert torch.equal(rss_kept, mask_kept)  # an AP is hidden in both groups at once
    assert torch.equal(y[rss_kept.repeat(1, 2)], x[rss_kept.repeat(1, 2)])  # the others are untouched
    assert abs(float((~rss_kept).float().mean()) - 0.3) < 0.05
    assert access_point_dropout(x, 0.0, 500) is x
    with pytest.raises(ValueError, match="multiple"):
        access_point_dropout(x, 0.1, 300)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        access_point_dropout(x, 1.0, 500)
    # gradient flows to the kept features only
    xg = x.clone().requires_grad_(True)
    access_point_dropout(xg, 0.5, 500, generator=torch.Generator().manual_seed(1)).sum().backward()
    assert set(xg.grad.unique().tolist()) <= {0.0, 1.0} and xg.grad.sum() > 0


def test_warm_start_fusion_reproduces_the_partial_model_then_trains_all_branches():
    torch.manual_seed(0)
    partial = MultimodalRegressor({"wifi": MLP(12, 8, (8,))}, fusion_hidden=16, n_floor_classes=3)
    fused = MultimodalRegressor(
        {"imu": LSTMEncoder(6, 8), "wifi": MLP(12, 8, (8,))}, fusion_hidden=16, n_floor_classes=3
    )
    warm_start_fusion(fused, partial)
    inputs = {"imu": torch.randn(5, 10, 6), "wifi": torch.randn(5, 12)}
    present = torch.tensor([[True, True], [False, True], [True, False], [True, True], [False, False]])
    out_p, out_f = partial({"wifi": inputs["wifi"], "present": present[:, 1:]}), fused({**inputs, "present": present})
    pos_p, logit_p, pos_f, logit_f = out_p["position"], out_p["floor_logits"], out_f["position"], out_f["floor_logits"]
    torch.testing.assert_close(pos_f, pos_p)  # the IMU features have zero weight so far
    torch.testing.assert_close(logit_f, logit_p)
    (pos_f.square().sum() + logit_f.square().sum()).backward()
    assert fused.fusion[0].weight.grad[:, :8].abs().sum() > 0  # ... but the IMU columns get gradients
    with pytest.raises(ValueError, match="lacks"):
        warm_start_fusion(partial, fused)


def test_multimodal_regressor_factory_picks_encoders_by_shape():
    from omniloc.nn.sequence import keras_comparison, multimodal_regressor

    torch.manual_seed(0)
    net = multimodal_regressor(
        {"imu": (10, 6), "wifi": (12,)}, lstm_hidden=8, mlp_hidden=(16, 8), fusion_hidden=8, n_floor_classes=2
    )
    assert isinstance(net.branches["imu"].encoder, LSTMEncoder) and net.branches["imu"].encoder.out_dim == 8
    wifi = net.branches["wifi"].encoder
    assert isinstance(wifi, MLP) and [m.out_features for m in wifi.net if isinstance(m, torch.nn.Linear)] == [16, 8]
    out = net({"imu": torch.randn(3, 10, 6), "wifi": torch.randn(3, 12), "present": torch.ones(3, 2, dtype=bool)})
    assert out["position"].shape == (3, 2) and out["features"].shape == (3, 8)
    (out["position"].square().sum() + out["floor_logits"].logsumexp(1).sum()).backward()
    grads = [p.grad for n, p in net.named_parameters() if not n.endswith("missing")]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    with pytest.raises(ValueError, match="must be"):
        multimodal_regressor({"rgb": (3, 8, 8)})
    rows = net.parameter_rows()
    text = keras_comparison(rows, 8, 1, 1000, "net", "keras")
    lstm_bias, missing, floor = 4 * 8, 2 * 8, 8 * 2 + 2
    total = sum(r[2] for r in rows)
    assert "keras: 1,000" in text and f"without these additions: {total - lstm_bias - missing - floor:,}" in text
