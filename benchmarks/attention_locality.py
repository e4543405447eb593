"""Does a run's encoder attend locally? Attention mass on the neighbours of each token.

For the discriminator and the generator of a run (the held-out split of the
run's corpus, the bundled one by default; 32 examples), prints per layer and
head the average attention mass a token puts on its two neighbours (uniform
attention gives about 2/length) and the attention entropy relative to
uniform (1.0 = uniform).

Example:
    ```
    PYTHONPATH=. python benchmarks/attention_locality.py runs/study/baseline
    PYTHONPATH=. python benchmarks/attention_locality.py runs/study/baseline runs/study/baseline/checkpoints/ckpt-000001000
    ```
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None):
    import numpy as np
    import tensorflow as tf

    from electra_keras import data
    from electra_keras.data.prepared import prepare_corpus
    from electra_keras.runs import RunFolder

    argv = sys.argv[1:] if argv is None else argv
    run = RunFolder(argv[0])
    checkpoint = argv[1] if len(argv) > 1 else None
    config, pretrainer = run.read_config(), run.load_pretrainer(checkpoint)
    inputs = run.read_state().get("inputs", {})
    corpus = list(inputs.get("corpus", {})) or [str(p) for p in data.DEFAULT_CORPUS]
    held_out = prepare_corpus(config, corpus, run.vocabulary_path).eval
    batch = {key: tf.constant(value[:32]) for key, value in held_out.items()}
    real = batch["padding_mask"].numpy().astype(bool)
    lengths = real.sum(1)
    for name, encoder in (("disc", pretrainer.discriminator), ("gen", pretrainer.generator)):
        x = encoder.embedding(batch["token_ids"], batch["segment_ids"])
        if encoder.embeddings_projection is not None:
            x = encoder.embeddings_projection(x)
        padding = tf.cast(batch["padding_mask"], "bool")
        mask = padding[:, None, :] & padding[:, :, None]
        for index, layer in enumerate(encoder.transformer_layers):
            _, scores = layer._self_attention_layer(x, x, attention_mask=mask, return_attention_scores=True)
            scores = scores.numpy()  # batch, heads, queries, keys
            local, entropy = [], []
            for row in range(scores.shape[0]):
                length = lengths[row]
                attention = scores[row, :, :length, :length]
                positions = np.arange(length)
                neighbours = np.zeros((length, length))
                neighbours[positions[1:], positions[:-1]] = 1
                neighbours[positions[:-1], positions[1:]] = 1
                local.append((attention * neighbours).sum(-1).mean(-1))  # per head, mass on +-1
                entropy.append(-(attention * np.log(attention + 1e-12)).sum(-1).mean(-1) / np.log(length))
            x = layer(x, padding_mask=batch["padding_mask"])
            print(
                name, "layer", index, "mass on +-1 neighbours per head", np.round(np.mean(local, 0), 3),
                f"(uniform ~{np.mean(2 / lengths):.3f})", "entropy/uniform", np.round(np.mean(entropy, 0), 3),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
