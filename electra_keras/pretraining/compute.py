"""What a pretraining run buys: its training FLOPs against the paper's points.

The ELECTRA paper (Clark et al. 2020, Table 1: ELECTRA-Small trained for
6.25% to 100% of its steps) gives GLUE dev scores at known training FLOPs.
A run's own FLOPs (`pretraining.flops`, matrix multiplications only, so a
little under the paper's count, which includes elementwise operations) says
how far from the smallest published point it stands, and its measured
throughput how long each point would take on the same hardware.
"""

import dataclasses

from electra_keras.pretraining.flops import pretraining_flops_per_sequence


@dataclasses.dataclass(frozen=True)
class PaperPoint:
    """One published ELECTRA-Small result: training FLOPs and GLUE dev score."""

    fraction_of_steps: float
    flops: float
    glue: float
    v100_hours: float


# Clark et al. 2020: ELECTRA-Small (14M parameters) trained 1/16 .. all of
# its 1M steps; the wall times are the paper's, on one V100.
PAPER_SMALL_POINTS = (
    PaperPoint(0.0625, 8.9e16, 74.1, 6.0),
    PaperPoint(0.125, 1.8e17, 76.0, 12.0),
    PaperPoint(0.25, 3.6e17, 77.7, 24.0),
    PaperPoint(0.5, 7.1e17, 79.0, 48.0),
    PaperPoint(1.0, 1.4e18, 79.9, 96.0),
)
PAPER_SOURCE = "Clark et al. 2020 (ELECTRA), Table 1: ELECTRA-Small trained for 6.25% to 100% of its steps"

# NVIDIA DeepLearningExamples, TF2 ELECTRA-Base pretraining at sequence 128 on
# one A100-40GB: 533 sequences/s in TF32, 955 with AMP. At our 0.61 GFLOP per
# base token (training, `pretraining.flops`) that is 42 and 75 TFLOP/s.
NVIDIA_A100_FLOPS_PER_SECOND = {"tf32": 42e12, "amp": 75e12}
NVIDIA_SOURCE = "NVIDIA DeepLearningExamples, TF2 ELECTRA-Base pretraining, sequence 128, one A100-40GB"


def run_flops(config, num_steps=None):
    """Training FLOPs of a pretraining run: per sequence x batch size x steps.

    Args:
        config: `electra_keras.ElectraConfig` whose `model.vocabulary_size` is set.
        num_steps: optimizer steps; default `config.training.num_steps`.

    Returns:
        `(flops_per_sequence, total_flops)` as floats.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
    config.model.vocabulary_size = 8000
    per_sequence, total = run_flops(config)  # total about 1.6e13
    ```
    """
    sequence_length = config.data.sequence_length
    flops = pretraining_flops_per_sequence(
        config.model,
        sequence_length,
        config.objective.resolved_max_predictions(sequence_length),
        objective=config.objective.kind,
    )
    steps = config.training.num_steps if num_steps is None else num_steps
    # Accumulation splits the batch into micro-batches: a step is still one batch.
    return float(flops.total), float(flops.total) * config.training.batch_size * steps


def compute_budget(total_flops, flops_per_second=None):
    """Where `total_flops` stands against the paper's ELECTRA-Small points.

    Args:
        total_flops: the run's training FLOPs (`run_flops`).
        flops_per_second: the run's measured rate, if known; each point then
            gets the hours it would take at that rate.

    Returns:
        A JSON-ready dict: `training_flops`, `times_below_smallest_point`,
        `points` (each with `flops`, `glue`, `times_this_run`, the paper's
        `v100_hours`, `a100_amp_hours` at NVIDIA's published rate and, with a
        measured rate, `hours_at_measured_rate`) and the sources.

    Example:
    ```python
    budget = compute_budget(1.6e13, flops_per_second=2e10)
    budget["times_below_smallest_point"]  # about 5600
    ```
    """
    points = []
    for point in PAPER_SMALL_POINTS:
        entry = {
            "fraction_of_steps": point.fraction_of_steps,
            "flops": point.flops,
            "glue": point.glue,
            "times_this_run": point.flops / total_flops if total_flops else None,
            "v100_hours": point.v100_hours,
            "a100_amp_hours": point.flops / NVIDIA_A100_FLOPS_PER_SECOND["amp"] / 3600,
        }
        if flops_per_second:
            entry["hours_at_measured_rate"] = point.flops / flops_per_second / 3600
        points.append(entry)
    smallest = PAPER_SMALL_POINTS[0].flops
    return {
        "training_flops": total_flops,
        "times_below_smallest_point": smallest / total_flops if total_flops else None,
        "measured_flops_per_second": flops_per_second,
        "points": points,
        "flops_count": "matrix multiplications, 3x forward (electra_keras.pretraining.flops)",
        "sources": [PAPER_SOURCE, NVIDIA_SOURCE],
    }


def describe_budget(budget):
    """The budget in a few lines for the log: how far below the paper, and how long each point takes.

    Example:
    ```python
    print(describe_budget(compute_budget(1.6e13)))
    ```
    """
    total = budget["training_flops"]
    below = budget["times_below_smallest_point"]
    lines = [f"compute: this run trains {total:.2g} FLOPs"]
    if below and below > 1:
        lines[0] += (
            f", {below:,.0f}x below the smallest published ELECTRA-Small point "
            f"({PAPER_SMALL_POINTS[0].flops:.2g} FLOPs, GLUE 74.1)"
        )
    elif below:
        passed = [p for p in budget["points"] if p["flops"] <= total]
        lines[0] += f", past the paper's ELECTRA-Small point at {passed[-1]['flops']:.2g} FLOPs (GLUE {passed[-1]['glue']})"
    rate = budget["measured_flops_per_second"]
    for point in budget["points"]:
        line = (
            f"  paper: {point['flops']:.2g} FLOPs -> GLUE {point['glue']} "
            f"({point['v100_hours']:g} h on one V100 in the paper, "
            f"~{point['a100_amp_hours']:.1f} h on one A100 at NVIDIA's AMP rate"
        )
        if rate:
            line += f", {_duration(point['hours_at_measured_rate'])} at this run's {rate / 1e9:.3g} GFLOP/s"
        lines.append(line + ")")
    lines.append(
        "  an early plateau at held-out disc AUC 0.6-0.7 is normal: the official implementation "
        "reports 0.68 at step 5000 (google-research/electra issue 81)"
    )
    return "\n".join(lines)


def _duration(hours):
    if hours < 48:
        return f"{hours:.1f} h"
    if hours < 24 * 365:
        return f"{hours / 24:.0f} days"
    return f"{hours / 24 / 365:.1f} years"
