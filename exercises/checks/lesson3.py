"""Checks of lesson 3: softmax, the CNN's layers and shapes, training, prediction, 98% target.

Each function is first compared with the reference solution's on fixed inputs; training comes last.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks import common

ACCURACY_TARGET = 0.98  # on the test part of the bundled digits (and of MNIST, with --mnist)


def _config(ctx: Context):
    config = ctx.module.Config()
    if ctx.mnist_dir is not None:
        config.mnist_dir = str(ctx.mnist_dir)
    return config


def check_softmax(ctx: Context) -> str:
    z = torch.randn(6, 10, generator=torch.Generator().manual_seed(0)) * 5
    common.expect_close(
        ctx.module.softmax(z),
        torch.softmax(z, dim=1),
        "softmax(z)",
        "exp(z) / exp(z).sum(dim=-1, keepdim=True)",
        atol=1e-6,
    )
    big = torch.tensor([[1000.0, 0.0, -1000.0]])
    if not torch.isfinite(ctx.module.softmax(big)).all():
        raise CheckFailed(
            "softmax of [1000, 0, -1000] gives NaN: exp(1000) overflows to inf, and inf / inf "
            "is NaN; subtract each row's maximum before exp()"
        )
    common.expect_close(
        ctx.module.softmax(big),
        torch.tensor([[1.0, 0.0, 0.0]]),
        "softmax of [1000, 0, -1000]",
        "subtract each row's maximum before exp() so it cannot overflow",
    )
    return "matches torch.softmax, stable for large scores"


def check_layers(ctx: Context) -> str:
    torch.manual_seed(0)
    model = common.expect_module(ctx.module.Net(8, (4, 6), 0.25), "Net(8, (4, 6), 0.25)")
    kinds = {type(m) for m in model.modules()}
    for needed in (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d):
        if needed not in kinds:
            raise CheckFailed(f"Net has no nn.{needed.__name__} layer")
    convs = [(m.in_channels, m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs[:2] != [(1, 4), (4, 6)]:
        raise CheckFailed(f"Net(channels=(4, 6)) has convolutions {convs}; expected 1 -> 4 -> 6")
    model.eval()
    common.expect_tensor(model(torch.rand(5, 1, 8, 8)), "Net(8)'s output for 5 images", (5, 10))
    common.expect_tensor(
        ctx.module.Net(28).eval()(torch.rand(2, 1, 28, 28)),
        "Net(28)'s output for 2 MNIST-sized images",
        (2, 10),
    )
    return "convolution, batch norm, pooling; (n, 10) logits for 8x8 and 28x28"


def _epochs(train_epoch, model: nn.Module, X, y, n: int, batch_size: int = 64) -> list:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)  # SGD: a step grows with the loss
    generator = torch.Generator().manual_seed(0)
    return [train_epoch(model, optimizer, X, y, batch_size, generator) for _ in range(n)]


def check_train_epoch(ctx: Context) -> str:
    split = datasets.load_digits(seed=0)
    X, y = split.X_train[:256], split.y_train[:256]
    torch.manual_seed(0)
    model = ctx.reference.Net(8, (8, 16), 0.0)  # the reference's network: only train_epoch
    expected_model = copy.deepcopy(model)  # is checked here
    # An epoch of one batch returns the loss before its update: exactly comparable.
    Xb, yb = X[:64], y[:64]
    (one_batch,) = _epochs(ctx.module.train_epoch, copy.deepcopy(model), Xb, yb, 1, 64)
    (expected_loss,) = _epochs(ctx.reference.train_epoch, copy.deepcopy(model), Xb, yb, 1, 64)
    common.compare_to_reference(
        one_batch,
        torch.tensor(expected_loss),
        "the mean loss of an epoch of one batch",
        "the mean over the digits of F.cross_entropy(logits, labels)",
        mistakes={
            "is a sum over the batch, not its mean: a wrong reduction (leave F.cross_entropy's "
            "reduction at 'mean')": torch.tensor(expected_loss * 64),
        },
        atol=1e-4,
    )
    losses = _epochs(ctx.module.train_epoch, model, X, y, 4)
    expected = _epochs(ctx.reference.train_epoch, expected_model, X, y, 4)
    common.expect_close(
        torch.tensor(losses),
        torch.tensor(expected),
        "the mean losses of 4 epochs",
        "shuffle with the generator given, and call optimizer.zero_grad() for every batch",
        atol=1e-3,
    )
    common.expect_non_negative_loss(losses[0], "the mean loss of the first epoch")
    common.expect_decreasing(
        losses,
        "the mean loss over 4 epochs on 256 digits",
        "is optimizer.step() called after loss.backward()?",
    )
    return f"the loss falls from {losses[0]:.3f} to {losses[-1]:.3f} in 4 epochs"


def check_predict(ctx: Context) -> str:
    # The reference's network, with dropout and batch norm, whatever the learner's Net has.
    torch.manual_seed(0)
    model = ctx.reference.Net(8, (4, 6), 0.5)
    X = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model.train()
    model(X)  # one training pass moves batch norm's running averages away from their start
    expected = ctx.reference.predict_logits(copy.deepcopy(model), X, 8)
    model.train()  # as left by training
    first = common.expect_tensor(
        ctx.module.predict_logits(model, X, 8), "predict_logits for 20 images", (20, 10)
    )
    model.train()
    second = ctx.module.predict_logits(model, X, 8)
    if not torch.equal(first, second) or model.training:
        raise CheckFailed(
            "two predictions of the same images differ: a missing eval mode, so dropout is "
            "on and batch norm uses each batch's statistics; call model.eval() first"
        )
    common.compare_to_reference(
        first, expected, "predict_logits", "the model's logits for X, a batch at a time"
    )
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
    return common.expect_at_least(
        common.classifier_accuracy(logits, split.y_test),
        ACCURACY_TARGET,
        f"test accuracy ({data})",
        "train longer, add channels, or tune the learning rate in Config",
    )


def check_figures(ctx: Context) -> str:
    state = ctx.state
    paths = ctx.module.write_figures(state["model"], state["history"], state["split"], ctx.out_dir)
    return common.expect_pngs(
        paths, ["confusion_matrix.png", "misclassified.png", "training_loss.png"]
    )


UNITS = ("CNN layers", "training epoch", "prediction in eval mode")
STEPS = [
    Step("softmax", ("softmax",), check_softmax),
    Step("CNN layers", ("Net",), check_layers),
    Step("training epoch", ("train_epoch",), check_train_epoch),
    Step("prediction in eval mode", ("predict_logits",), check_predict),
    Step(
        "accuracy target",
        ("train", "train_epoch", "predict_logits", "Net", "accuracy"),
        check_accuracy,
        needs=UNITS,
        training=True,
        time_limit=300,  # 15 epochs on 1077 digits; MNIST (--mnist) takes longer
    ),
    Step(
        "figures",
        ("write_figures",),
        check_figures,
        needs=("accuracy target",),
        training=True,
        time_limit=60,
    ),
]
