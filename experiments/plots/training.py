"""Training figures: the loss and accuracy curves of a run."""

from experiments.plots import figure


def plot_history(history: list[dict], title: str):
    """Training loss and accuracy against step, with the final test accuracy."""
    fig, (ax_loss, ax_acc) = figure(1, 2, figsize=(9, 3.2))
    rows = [m for m in history if "train_loss" in m]
    steps = [m["step"] for m in rows]
    ax_loss.plot(steps, [m["train_loss"] for m in rows], label="train")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title=f"{title}: loss", yscale="log")
    ax_acc.plot(steps, [m["train_accuracy"] for m in rows], label="train (running)")
    tests = [m for m in history if "test_accuracy" in m]
    if tests:
        ax_acc.axhline(
            tests[-1]["test_accuracy"],
            color="C1",
            ls="--",
            label=f"test {tests[-1]['test_accuracy']:.4f}",
        )
    ax_acc.set(xlabel="step", ylabel="accuracy", title=f"{title}: accuracy", ylim=(0.8, 1.0))
    ax_acc.legend(loc="lower right")
    return fig


def plot_losses(histories: dict[str, list[dict]]):
    """The training loss of several runs against step (``name -> metrics lines``)."""
    fig, ax = figure(figsize=(6, 3.5))
    for name, history in histories.items():
        rows = [h for h in history if "train_loss" in h]
        ax.plot([h["step"] for h in rows], [h["train_loss"] for h in rows], label=name)
    ax.set(xlabel="step", ylabel="training cross-entropy", yscale="log")
    ax.legend()
    return fig
