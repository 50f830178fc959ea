"""Checks of lesson 3: softmax, the CNN's layers and shapes, training, prediction, 98% target."""

from __future__ import annotations

import torch
from torch import nn

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks.common import (
    classifier_accuracy,
    expect_at_least,
    expect_close,
    expect_decreasing,
    expect_module,
    expect_pngs,
    expect_tensor,
)

ACCURACY_TARGET = 0.98  # on the test part of the bundled digits (and of MNIST, with --mnist)


def _config(ctx: Context):
    config = ctx.module.Config()
    if ctx.mnist_dir is not None:
        config.mnist_dir = str(ctx.mnist_dir)
    return config


def check_softmax(ctx: Context) -> str:
    z = torch.randn(6, 10, generator=torch.Generator().manual_seed(0)) * 5
    expect_close(
        ctx.module.softmax(z),
        torch.softmax(z, dim=1),
        "softmax(z)",
        "exp(z) / exp(z).sum(dim=-1, keepdim=True)",
        atol=1e-6,
    )
    big = torch.tensor([[1000.0, 0.0, -1000.0]])
    expect_close(
        ctx.module.softmax(big),
        torch.tensor([[1.0, 0.0, 0.0]]),
        "softmax of [1000, 0, -1000]",
        "subtract each row's maximum before exp() so it cannot overflow",
    )
    return "matches torch.softmax, stable for large scores"


def check_layers(ctx: Context) -> str:
    torch.manual_seed(0)
    model = expect_module(ctx.module.Net(8, (4, 6), 0.25), "Net(8, (4, 6), 0.25)")
    kinds = {type(m) for m in model.modules()}
    for needed in (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d):
        if needed not in kinds:
            raise CheckFailed(f"Net has no nn.{needed.__name__} layer")
    convs = [(m.in_channels, m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs[:2] != [(1, 4), (4, 6)]:
        raise CheckFailed(f"Net(channels=(4, 6)) has convolutions {convs}; expected 1 -> 4 -> 6")
    model.eval()
    expect_tensor(model(torch.rand(5, 1, 8, 8)), "Net(8)'s output for 5 images", (5, 10))
    expect_tensor(
        ctx.module.Net(28).eval()(torch.rand(2, 1, 28, 28)),
        "Net(28)'s output for 2 MNIST-sized images",
        (2, 10),
    )
    return "convolution, batch norm, pooling; (n, 10) logits for 8x8 and 28x28"


def check_train_epoch(ctx: Context) -> str:
    split = datasets.load_digits(seed=0)
    X, y = split.X_train[:256], split.y_train[:256]
    torch.manual_seed(0)
    model = ctx.module.Net(8, (8, 16), 0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = [ctx.module.train_epoch(model, optimizer, X, y, 64, generator) for _ in range(4)]
    expect_decreasing(
        losses,
        "the mean loss over 4 epochs on 256 digits",
        "is optimizer.step() called after loss.backward()?",
    )
    return f"the loss falls from {losses[0]:.3f} to {losses[-1]:.3f} in 4 epochs"


def check_predict(ctx: Context) -> str:
    torch.manual_seed(0)
    model = ctx.module.Net(8, (4, 6), 0.5)
    model.train()  # as left by training
    X = torch.rand(20, 1, 8, 8)
    first = expect_tensor(
        ctx.module.predict_logits(model, X, 8), "predict_logits for 20 images", (20, 10)
    )
    if not torch.equal(first, ctx.module.predict_logits(model, X, 8)):
        raise CheckFailed("two predictions of the same images differ: call model.eval() first")
    return "deterministic (20, 10) logits in evaluation mode"


def check_accuracy(ctx: Context) -> str:
    config = _config(ctx)
    split = datasets.load_digits(seed=config.seed, mnist_dir=config.mnist_dir)
    model, history = ctx.module.train(config, split)
    model.eval()
    with torch.no_grad():
        logits = torch.cat(
            [model(split.X_test[i : i + 1000]) for i in range(0, len(split.X_test), 1000)]
        )
    ctx.state.update(model=model, history=history, split=split)
    data = "MNIST" if config.mnist_dir else "bundled digits"
    return expect_at_least(
        classifier_accuracy(logits, split.y_test),
        ACCURACY_TARGET,
        f"test accuracy ({data})",
        "train longer, add channels, or tune the learning rate in Config",
    )


def check_figures(ctx: Context) -> str:
    state = ctx.state
    paths = ctx.module.write_figures(state["model"], state["history"], state["split"], ctx.out_dir)
    return expect_pngs(paths, ["confusion_matrix.png", "misclassified.png", "training_loss.png"])


STEPS = [
    Step("softmax", ("softmax",), check_softmax),
    Step("CNN layers", ("Net",), check_layers),
    Step("training epoch", ("train_epoch", "Net"), check_train_epoch),
    Step("prediction in eval mode", ("predict_logits", "Net"), check_predict),
    Step(
        "accuracy target",
        ("train", "train_epoch", "predict_logits", "Net", "accuracy"),
        check_accuracy,
    ),
    Step("figures", ("write_figures",), check_figures, needs=("accuracy target",)),
]
