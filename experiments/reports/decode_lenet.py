"""How ``decode_lenet`` words and tabulates the paper's decoding analyses
(``experiments.lenses.decoding_paper``): layer names, Table 1 in markdown, the self-consistency
failures, the summary."""

from experiments.lenses.decoding_paper import PAPER_TABLE1
from experiments.plots.decoding import paper_name

TABLE1_DEFINITION = (
    "per test image: MSE between minmax(network conv response at the layer, with biases, max "
    "pools and ReLUs below it) and minmax(image correlated with the decoded filters at the "
    "layer's total stride), each normalised once over the whole (H', W', K) block of that "
    "image; mean and std over images. deconvnet: the same with the image-specific deconvnet "
    "projection of a unit impulse at each unit's strongest position in place of the decoded "
    "filter, on the first deconvnet_images images."
)


def names(r) -> dict:
    """Layer index -> the paper's name ('L1', 'L3', ...)."""
    return {i: paper_name(i) for i in r.conv_layers}


def table1_markdown(table: dict, methods) -> str:
    cols = [*methods, "deconvnet"]
    lines = ["| layer | " + " | ".join(cols) + " | paper (bicubic, nearest, bilinear) |"]
    lines.append("|---" * (len(cols) + 2) + "|")
    for name, row in table.items():
        cells = [f"{row[m]['mean']:.4f} ± {row[m]['std']:.4f}" if m in row else "-" for m in cols]
        paper = PAPER_TABLE1.get(name)
        ref = ", ".join(f"{paper[m][0]} ± {paper[m][1]}" for m in paper) if paper else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ref} |")
    return "\n".join(lines) + "\n"


def failures(r, method: str) -> list[tuple]:
    """``(layer name, unit, winner, own rank, input image)`` of every inconsistent unit,
    'pixels' mode, deepest layer first."""
    out = []
    for key, d in r.self_consistency_detail.items():
        mode, m, name = key.split("_", 2)
        if mode != "pixels" or m != method:
            continue
        for unit, winner in enumerate(d["winner"]):
            if winner != unit:
                out.append((name, unit, winner, d["own_rank"][unit], d["inputs"][unit]))
    return out


def summary(r, net) -> dict:
    return {
        "train": net.summary,
        "num_images": len(r.image_indices),
        "deconvnet_images": r.deconvnet_images,
        "network_accuracy_on_images": r.network_accuracy,
        "forward_vs_model_max_rel_err": r.forward_vs_model,
        "table1": r.table1,
        "table1_zscore": r.table1_zscore,
        "table1_paper": {
            n: {m: {"mean": v[0], "std": v[1]} for m, v in row.items()}
            for n, row in PAPER_TABLE1.items()
        },
        "table1_definition": TABLE1_DEFINITION,
        "figure1": {
            m: {k: v for k, v in f.items() if k.startswith(("diagonal", "decoded"))}
            for m, f in r.figure1.items()
        },
        "figure4_layer5_units": r.figure4_units,
        "self_consistency": r.self_consistency,
    }
