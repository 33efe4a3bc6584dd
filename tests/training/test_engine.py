"""Training engines: the compiled step follows the eager one, the device sampler resumes
exactly, and engines a run cannot use are refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from csrnet.errors import CsrnetError
from csrnet.model import CSRnet
from csrnet.training.config import load_config
from csrnet.training.engine import LossLog
from csrnet.training.loop import train
from csrnet.training.optimizer import make_optimizer, use_lr_kind, use_training_layout

from conftest import final_weights, tiny_config


@pytest.mark.slow  # ~5 minutes of torch.compile on 2 cores: .ci/run runs it
def test_compiled_steps_follow_eager_ones_for_200_steps(tmp_path: Path) -> None:
    """The same seed, the same device-drawn patches: torch.compile's loss curve is eager's.

    Over the first 150 steps every loss agrees to float32 rounding. Later, Adam at this
    learning rate amplifies rounding differences step by step (a chaotic trajectory: the
    curves were seen to part near step 185), so there only 50-step means are compared.
    """
    path = tiny_config(tmp_path, "sr", steps=200, log_every=50)
    curves = {}
    for engine in ("eager", "compile"):
        cfg = load_config(path, [f"engine={engine}", "data.sampler=device"])
        curves[engine] = np.array(train(cfg, tmp_path / engine, progress=False).losses)
    eager, compiled = curves["eager"], curves["compile"]
    assert len(eager) == len(compiled) == 200
    tied = np.abs(compiled[:150] - eager[:150]) / eager[:150]
    assert tied.max() < 1e-4, f"step {tied.argmax()}: {eager[tied.argmax()]} vs compiled"
    means = [(eager[i : i + 50].mean(), compiled[i : i + 50].mean()) for i in range(0, 200, 50)]
    assert all(abs(c - e) < 0.1 * e for e, c in means), means
    assert means[-1][1] < 0.5 * means[0][1]  # and it learns


def test_device_sampler_resumes_exactly(tmp_path: Path) -> None:
    path = tiny_config(tmp_path, "denoise", steps=12)
    overrides = ["data.sampler=device"]
    straight = train(load_config(path, overrides), tmp_path / "straight", progress=False)
    first = train(load_config(path, overrides), tmp_path / "split", stop_at=5, progress=False)
    assert first.interrupted and first.step == 5 and first.losses == straight.losses[:5]
    resumed = train(load_config(path, overrides), tmp_path / "split", resume=True, progress=False)
    assert resumed.losses == straight.losses[5:]
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["engine=graph"], "engine graph needs data.sampler: device"),
        (["engine=graph", "data.sampler=device", "optim.name=sgd"], "adam or adamw"),
        (
            ["engine=graph", "data.sampler=device", "optim.clip=adjustable"],
            "optim.clip none or norm",
        ),
        (["engine=jit"], "engine must be one of eager, compile, graph"),
    ],
)
def test_recipes_an_engine_cannot_run_are_refused(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(CsrnetError, match=message):
        load_config(tiny_config(tmp_path), overrides)


def test_graph_engine_on_the_cpu_is_one_line(tmp_path: Path) -> None:
    cfg = load_config(tiny_config(tmp_path), ["engine=graph", "data.sampler=device"])
    with pytest.raises(CsrnetError, match="engine graph needs CUDA"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_losses_are_read_in_one_go_and_a_bad_one_names_its_step() -> None:
    log = LossLog()
    for value in (0.5, 0.25):
        log.add(torch.tensor(value))
    assert log.read(2) == [0.5, 0.25] and log.read(2) == []
    for value in (0.5, float("nan"), 0.1):
        log.add(torch.tensor(value))
    with pytest.raises(CsrnetError, match="step 11: the loss is nan"):
        log.read(12)


def test_learning_rates_take_the_engines_kind_after_loading(tmp_path: Path) -> None:
    graph_cfg = load_config(tiny_config(tmp_path), ["engine=graph", "data.sampler=device"])
    eager_cfg = load_config(tiny_config(tmp_path))
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = make_optimizer(eager_cfg, params, torch.device("cpu"))
    use_lr_kind(optimizer, graph_cfg, torch.device("cpu"))
    assert isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)
    assert float(optimizer.param_groups[0]["lr"]) == pytest.approx(2e-3)
    use_lr_kind(optimizer, eager_cfg, torch.device("cpu"))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)
    assert isinstance(optimizer.param_groups[0]["lr"], float)


def _layout(t: torch.Tensor) -> str:
    return "cl" if t.is_contiguous(memory_format=torch.channels_last) else "nchw"


def test_half_scale_nchw_moves_those_layers_only_and_keeps_the_numbers() -> None:
    """The half scale's bodies and F_down into it run NCHW, the rest channels_last; the
    output and every gradient are those of the all-channels_last model."""
    torch.manual_seed(0)
    models = [CSRnet(depth=2, res_blocks=1, channels=8, first_channels=8) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    seen: list[str] = []
    half_conv = models[1].blocks[0].branches[1].body[0].conv1
    half_conv.register_forward_hook(lambda m, args, out: seen.append(_layout(args[0])))
    x = torch.rand(2, 1, 20, 20).contiguous(memory_format=torch.channels_last)
    outputs, grads = [], []
    for model, half_nchw in zip(models, (False, True), strict=True):
        optimizer = torch.optim.AdamW(model.parameters())
        use_training_layout(model, optimizer, half_nchw)
        out = model(x)
        out.square().mean().backward()
        outputs.append(out.detach())
        grads.append({k: p.grad for k, p in model.named_parameters()})
    block = models[1].blocks[1]
    assert _layout(block.branches[1].body[0].conv2.weight) == "nchw"
    assert _layout(block.down[0].weight) == "nchw"
    assert _layout(block.down[1].weight) == "cl"  # the quarter scale's F_down
    assert _layout(block.branches[0].body[0].conv1.weight) == "cl"
    assert _layout(models[0].blocks[1].branches[1].body[0].conv2.weight) == "cl"
    assert seen == ["nchw"]  # the hook's input, not only the weights
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_resumed_optimiser_state_takes_its_parameters_layout() -> None:
    """A state saved all channels_last and resumed with the half scale NCHW is laid out as
    its parameters, values kept: fused AdamW on the GPU refuses mismatched strides."""
    torch.manual_seed(0)
    saved = CSRnet(depth=1, res_blocks=1, channels=4, first_channels=4)
    optimizer = torch.optim.AdamW(saved.parameters())
    use_training_layout(saved, optimizer)
    saved(torch.rand(1, 1, 8, 8)).mean().backward()
    optimizer.step()
    resumed = CSRnet(depth=1, res_blocks=1, channels=4, first_channels=4)
    again = torch.optim.AdamW(resumed.parameters())
    again.load_state_dict(optimizer.state_dict())
    use_training_layout(resumed, again, half_scale_nchw=True)
    strides = [
        (value.stride(), p.stride())
        for p, state in again.state.items()
        for value in state.values()
        if value.dim()
    ]
    assert len(strides) == 2 * len(list(resumed.parameters()))
    assert all(s == p for s, p in strides)
    body = resumed.blocks[0].branches[1].body[0].conv1.weight
    saved_body = saved.blocks[0].branches[1].body[0].conv1.weight
    assert _layout(again.state[body]["exp_avg"]) == "nchw"
    assert _layout(optimizer.state[saved_body]["exp_avg"]) == "cl"
    assert torch.equal(again.state[body]["exp_avg"], optimizer.state[saved_body]["exp_avg"])


def test_a_run_with_the_half_scale_nchw_trains_as_the_default_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_config(tmp_path, "sr", steps=6, log_every=1)
    losses = [
        train(
            load_config(path, [f"half_scale_nchw={flag}"]), tmp_path / flag, progress=False
        ).losses
        for flag in ("false", "true")
    ]
    assert len(losses[1]) == 6
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    train(load_config(path, ["half_scale_nchw=true"]), tmp_path / "plan", dry_run=True)
    assert "channels_last (half scale NCHW)" in capsys.readouterr().out
