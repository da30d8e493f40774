"""How ``acl_train`` words its study (``experiments.core.anann_training.Study``): the results
table, the ablation table and the summary."""

from experiments.models import anann


def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def results_markdown(s, config, sched) -> str:
    rows = [
        [name, f"{m['test_accuracy']:.4f}", *(m["conv_params"][k] for k in anann.CONV_NAMES),
         m["conv_params_total"], m["conv_params_with_bias_total"], f"{m['wall_seconds']:.0f}"]
        for name, m in s.models.items()
    ]  # fmt: skip
    head = ["model", "test acc", "conv1", "conv2", "conv3", "conv4", "conv kernels"]
    head += ["with biases", "wall s"]
    return (
        f"# AnaNN vs plain on {config.data.dataset} ({s.num_steps} steps, batch "
        f"{sched.batch_size}, lr {sched.learning_rate}, AKP lr x{config.akp_lr_scale})\n\n"
        + md_table(head, rows)
        + "\n"
        + "".join(
            f"* {k}: accuracy change {v['accuracy_change_points']:+.2f} points, "
            f"conv params -{100 * v['conv_param_reduction']:.1f}%\n"
            for k, v in s.comparisons.items()
        )
        + f"* acceptance (AnaNN-LeNet within 1 point, >= 40% fewer conv params): {s.acceptance}\n"
    )


def ablation_markdown(s) -> str:
    head = ["family", "slices", "params", "removed acc", "change"]
    if s.freeze_steps > 0:
        head += [f"frozen acc ({s.freeze_steps} steps)", "change vs unfrozen"]
    rows = []
    for r in s.ablation:
        vals = [r["family"], r["slices"], r["params"], f"{r['removed_accuracy']:.4f}",
                f"{100 * r['removed_change']:+.2f}"]  # fmt: skip
        if s.freeze_steps > 0:
            vals += [f"{r['frozen_accuracy']:.4f}", f"{100 * r['frozen_change']:+.2f}"]
        rows.append(vals)
    base = s.models["anann_lenet"]["test_accuracy"]
    unfrozen = f"; unfrozen {s.freeze_steps}-step run {s.frozen_base:.4f}" if s.frozen_base else ""
    return (
        f"# Family ablation of AnaNN-LeNet (test accuracy {base:.4f}{unfrozen})\n\n"
        "changes in points\n\n" + md_table(head, rows)
    )


def summary(s, config) -> dict:
    return {
        "dataset": config.data.dataset,
        "num_steps": s.num_steps,
        "akp_lr_scale": config.akp_lr_scale,
        "arrangements": s.arrangements,
        "models": s.models,
        "comparisons": s.comparisons,
        "acceptance": s.acceptance,
        "ablation": s.ablation,
        "ablation_freeze_steps": s.freeze_steps,
        "ablation_unfrozen_accuracy": s.frozen_base,
        "ablation_seconds": s.ablation_seconds,
    }
