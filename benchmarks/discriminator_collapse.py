"""Is a run's discriminator collapsed? Spread of its token representations on held-out text.

A discriminator stuck near the all-original plateau can have mapped every
token to (almost) the same final hidden state: then its logits barely vary
and its AUC sits near 0.5 whatever the input. This loads a finished run (or
one of its checkpoints), runs the objective on held-out examples with the
evaluation's fixed masks, and prints:

- `spread`: per-dimension standard deviation of the discriminator's final
  hidden states across real tokens, averaged over dimensions (a fresh
  encoder's LayerNorm outputs give about 1; a collapsed one near 0), beside
  the norm of their mean vector;
- the head: share of its GELU units with positive input, the spread of the
  logits across tokens, the output bias, and the mean logit.

Example:
    ```
    python benchmarks/discriminator_collapse.py runs/study/baseline runs/study/init0.05
    python benchmarks/discriminator_collapse.py runs/study/baseline --checkpoint runs/study/baseline/checkpoints/ckpt-000000500
    ```
"""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def collapse_statistics(run_dir, checkpoint=None, examples=64):
    import numpy as np
    import tensorflow as tf

    from electra_keras import data
    from electra_keras.data.prepared import prepare_corpus
    from electra_keras.runs import RunFolder

    run = RunFolder(run_dir)
    config, pretrainer = run.read_config(), run.load_pretrainer(checkpoint)
    inputs = run.read_state().get("inputs", {})
    corpus = list(inputs.get("corpus", {})) or [str(p) for p in data.DEFAULT_CORPUS]
    # The same held-out split the run evaluated on (same config, seed, corpus).
    held_out = prepare_corpus(config, corpus, run.vocabulary_path).eval
    batch = {key: tf.constant(value[:examples]) for key, value in held_out.items()}
    results = pretrainer.compute_objective(batch, pretrainer.evaluation_noise(batch), training=False)
    sequence = pretrainer.discriminator(
        {"token_ids": results["corrupted_ids"], "segment_ids": batch["segment_ids"],
         "padding_mask": batch["padding_mask"]},
        training=False,
    )["sequence_output"].numpy()
    real = batch["padding_mask"].numpy().astype(bool)
    states = sequence[real]
    head = pretrainer.discriminator_head
    pre_activation = states @ head.dense.kernel.numpy() + head.dense.bias.numpy()
    logits = results["discriminator_logits"].numpy().reshape(real.shape)[real]
    return {
        "spread": float(states.std(0).mean()),
        "mean_vector_norm": float(np.linalg.norm(states.mean(0))),
        "head_units_active": float((pre_activation > 0).mean()),
        "logit_std": float(logits.std()),
        "logit_mean": float(logits.mean()),
        "output_bias": float(head.logits_dense.bias.numpy()[0]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="pretraining output folders")
    parser.add_argument("--checkpoint", help="a checkpoints/ckpt-<step> folder (one run only)")
    args = parser.parse_args(argv)
    for run in args.runs:
        stats = collapse_statistics(run, args.checkpoint)
        print(f"{run}: " + ", ".join(f"{k} {v:.3f}" for k, v in stats.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
