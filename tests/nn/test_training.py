"""The shared training module and loop: fingerprints, refused and accepted resumes, attempt folders,
CSV logs kept per attempt, forked RNG, optimiser choice, best-epoch weights, progress bar and warnings."""

import io
import logging
import warnings

import numpy as np
import pytest
import torch

from omniloc import ConfigError, DataError
from omniloc.nn.training import (
    TRAINER_DEFAULTS,
    TrainingModule,
    fingerprint,
    fit_lightning,
    reseed,
    seeded,
    training_conf,
)

QUIET = {**TRAINER_DEFAULTS, "progress": False}


class _Line(TrainingModule):
    """y = 2 x + 1 by a Linear(1, 1); validation: mean absolute error."""

    def __init__(self, x, y, xv=None, yv=None, **kw):
        super().__init__(torch.nn.Linear(1, 1), **kw)
        self.add_data("train", {"x": x, "y": y})
        if xv is not None:
            self.add_data("val", {"x": xv, "y": yv})

    def loss(self, batch):
        idx = batch[0]
        err = self.net(self.data("train", "x")[idx]) - self.data("train", "y")[idx]
        return err.square().mean(), {"abs": err.abs().mean().detach()}

    def validation_sums(self, batch):
        idx = batch[0]
        err = (self.net(self.data("val", "x")[idx]) - self.data("val", "y")[idx]).abs().sum()
        return torch.stack([err, torch.tensor(float(len(idx)))])

    def validation_metrics(self, sums):
        return {"val_mae": sums[0] / sums[1]}


def _data(n=64, shift=0.0):
    x = torch.linspace(-1, 1, n).reshape(-1, 1)
    return x, 2 * x + 1 + shift


def _loader(n=64, shuffle=True):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)), batch_size=16, shuffle=shuffle)


def _fit(tmp=None, seed=0, shift=0.0, epochs=3, resume="auto", conf_extra=None, lr=0.1, **kw):
    conf = dict(QUIET, checkpoint_dir=None if tmp is None else str(tmp), resume=resume)
    with seeded(seed):
        module = _Line(*_data(shift=shift), lr=lr, **kw)
        fit_lightning(
            module,
            _loader(),
            conf,
            "line",
            max_epochs=epochs,
            log_every_n_steps=4,
            fingerprint_conf={"lr": lr, "seed": seed, **(conf_extra or {})},
        )
    return module


# ---------------------------------------------------------------------------------------------- fingerprints
def test_fingerprint_is_stable_and_sensitive():
    a = {"b": [1, 2.5, None, "x"], "a": np.arange(4, dtype=np.float32), "t": torch.ones(2, 3)}
    b = {"t": torch.ones(2, 3), "a": np.arange(4, dtype=np.float32), "b": [1, 2.5, None, "x"]}
    assert fingerprint(a) == fingerprint(b) and len(fingerprint(a)) == 64
    changed = [
        dict(a, a=np.arange(4, dtype=np.float64)),
        dict(a, a=np.arange(4, dtype=np.float32).reshape(2, 2)),
        dict(a, t=torch.ones(2, 3).index_put((torch.tensor([1]),), torch.tensor([2.0]))),
        dict(a, b=[1, 2.5, None, "y"]),
        dict(a, b=[1, 2.5, 0, "x"]),
        dict(a, b=[True, 2.5, None, "x"]),
    ]
    assert len({fingerprint(a)} | {fingerprint(c) for c in changed}) == 1 + len(changed)


def test_training_conf_drops_progress_paths_and_ignored_keys():
    conf = {
        "epochs": 5,
        "lr": 0.1,
        "pretrain": {"epochs": 2, "lr": 0.5},
        "predict": {"batch_size": 3},
        "trainer": {"progress": True, "checkpoint_dir": "/x", "resume": "auto", "devices": 2},
    }
    out = training_conf(conf, ("predict", "epochs", "pretrain.epochs", "no.such"))
    assert out == {"lr": 0.1, "pretrain": {"lr": 0.5}, "trainer": {"devices": 2}}
    assert conf["pretrain"] == {"epochs": 2, "lr": 0.5} and conf["trainer"]["progress"] is True  # untouched


# ---------------------------------------------------------------------------------------------- RNG
def test_seeded_forks_the_generator_and_fits_leave_global_state_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    with seeded(7):
        a = torch.rand(3)
        reseed(7)
        b = torch.rand(3)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    deterministic = torch.are_deterministic_algorithms_enabled()
    first, second = _fit(seed=3), _fit(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # untouched by two fits
    assert torch.are_deterministic_algorithms_enabled() == deterministic  # restored after the fits
    for k, v in first.net.state_dict().items():
        torch.testing.assert_close(second.net.state_dict()[k], v, rtol=0, atol=0)
    other = _fit(seed=4)
    assert not torch.equal(other.net.weight, first.net.weight)


# ---------------------------------------------------------------------------------------------- module
@pytest.mark.parametrize(
    "name, cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD)]
)
def test_optimiser_choice_trains_towards_the_line(name, cls):
    m = _fit(optimizer=name, epochs=30, lr=0.05)
    opt = m.configure_optimizers()
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.05
    assert abs(m.net.weight.item() - 2.0) < 0.2 and abs(m.net.bias.item() - 1.0) < 0.2
    assert len(m.history) == 30 and m.history[-1][1] < m.history[0][1]  # mean loss per epoch falls
    with pytest.raises(ConfigError, match="optimizer"):
        _Line(*_data(), optimizer="lbfgs")


def test_cosine_schedule_ends_at_the_floor():
    m = _Line(*_data(), lr=0.1, cosine_steps=10, cosine_floor=0.05)
    sched = m.configure_optimizers()["lr_scheduler"]["scheduler"]
    for _ in range(10):
        sched.optimizer.step()
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.005)


def test_validation_keeps_the_best_epoch():
    x, y = _data()
    xv, yv = _data(16, shift=0.0)
    with seeded(0):
        m = _Line(x, y, xv, yv, lr=0.5, optimizer="sgd", momentum=0.0)
        fit_lightning(
            m,
            _loader(),
            QUIET,
            "line",
            max_epochs=6,
            val_dataloader=_loader(16, False),
            monitor="val_mae",
            log_every_n_steps=4,
        )
    vals = [h[2] for h in m.history]
    assert len(vals) == 6 and np.isfinite(vals).all()
    assert m.best_val == pytest.approx(min(vals))
    torch.testing.assert_close(m.net.weight.detach(), m.best_state["weight"], rtol=0, atol=0)  # best loaded back
    assert m.score([[torch.arange(16)]]) == pytest.approx(m.best_val, rel=1e-5)


# ---------------------------------------------------------------------------------------------- checkpoints
def test_resume_matching_fit_and_refuse_other_data_or_conf(tmp_path, caplog):
    first = _fit(tmp_path, epochs=2)
    ckpt = torch.load(tmp_path / "line" / "last.ckpt", weights_only=False)
    assert set(ckpt["omniloc_fingerprint"]) == {"conf", "data"} and ckpt["epoch"] == 2
    with caplog.at_level(logging.WARNING, logger="omniloc.nn.training"):
        again = _fit(tmp_path, epochs=2)  # same conf and data: resumed, complete
    resumed = [r.getMessage() for r in caplog.records if "resumed from" in r.getMessage()]
    assert resumed == [f"resumed from {tmp_path / 'line' / 'last.ckpt'} at epoch 2 (step 8)"]
    torch.testing.assert_close(again.net.weight, first.net.weight, rtol=0, atol=0)
    np.testing.assert_array_equal(again.history, first.history)
    longer = _fit(tmp_path, epochs=3)  # continues: two old epochs + one
    assert len(longer.history) == 3
    np.testing.assert_array_equal(longer.history[:2], first.history)
    # every attempt kept its CSV log
    logs = sorted(p.parent.name for p in (tmp_path / "line").glob("version_*/metrics.csv"))
    assert logs == ["version_0", "version_2"]  # version_1 resumed a finished fit: nothing to log
    assert (tmp_path / "line" / "version_1").is_dir()
    with pytest.raises(
        ConfigError,
        match=r"last\.ckpt was written by a fit with other training data; .*"
        r"trainer\.resume='never'",
    ):
        _fit(tmp_path, shift=1.0)
    with pytest.raises(ConfigError, match="other method conf;"):
        _fit(tmp_path, conf_extra={"hidden": 3})
    with pytest.raises(ConfigError, match="other method conf and training data"):
        _fit(tmp_path, shift=1.0, lr=0.2)


def test_resume_never_keeps_the_old_attempt_and_starts_fresh(tmp_path):
    _fit(tmp_path, epochs=2)
    fresh = _fit(tmp_path, shift=1.0, epochs=2, resume="never")
    plain = _fit(None, shift=1.0, epochs=2)
    torch.testing.assert_close(fresh.net.weight, plain.net.weight, rtol=0, atol=0)
    assert (tmp_path / "line.attempt-1" / "last.ckpt").exists() and (tmp_path / "line" / "last.ckpt").exists()
    _fit(tmp_path, shift=2.0, epochs=1, resume="never")
    assert (tmp_path / "line.attempt-2" / "last.ckpt").exists()
    with pytest.raises(ConfigError, match="trainer.resume"):
        _fit(tmp_path, resume="always")


def test_checkpoint_without_fingerprint_or_unreadable_is_refused(tmp_path):
    _fit(tmp_path, epochs=1)
    f = tmp_path / "line" / "last.ckpt"
    ckpt = torch.load(f, weights_only=False)
    del ckpt["omniloc_fingerprint"]
    torch.save(ckpt, f)
    with pytest.raises(ConfigError, match="no omniloc fingerprint"):
        _fit(tmp_path, epochs=1)
    f.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="unreadable checkpoint"):
        _fit(tmp_path, epochs=1)


# ---------------------------------------------------------------------------------------------- progress, warnings
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal():
    from lightning.pytorch.callbacks import TQDMProgressBar

    from omniloc.nn.training import _progress_bar

    bar = _progress_bar({"progress": True}, "mtloc", 5, _Terminal())
    assert isinstance(bar, TQDMProgressBar) and bar.stage == "mtloc" and bar.refresh_rate == 5
    assert _progress_bar({"progress": True}, "mtloc", 5, io.StringIO()) is None
    assert _progress_bar({"progress": False}, "mtloc", 5, _Terminal()) is None


def test_lightning_advice_does_not_leak_and_filters_are_restored(tmp_path, caplog):
    filters = list(warnings.filters)
    level = logging.getLogger("lightning.pytorch.utilities.rank_zero").level
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        _fit(tmp_path, epochs=1)
        _fit(tmp_path / "other", epochs=1)
    texts = [str(w.message) for w in seen] + [r.getMessage() for r in caplog.records]
    for advice in (
        "many workers",
        "log_every_n_steps",
        "exists and is not empty",
        "GPU available",
        "LeafSpec",
        "eval mode",
    ):
        assert not [t for t in texts if advice in t], advice
    assert warnings.filters == filters
    assert logging.getLogger("lightning.pytorch.utilities.rank_zero").level == level
