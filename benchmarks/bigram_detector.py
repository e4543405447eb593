"""How far could local context take a detector? A bigram-count detector on a run's held-out replacements.

Scores each real token of the evaluation's corrupted held-out batches (the
run's final generator, the evaluation's fixed masks) by how unlikely it is
next to its neighbours under add-one bigram counts from the run's *training*
examples, `-log P(x_i | x_{i-1}) - log P(x_{i+1} | x_i)`, and a unigram
score `-log P(x_i)`, and prints their AUCs (the same pooled, tie-averaged
AUC as the pretrainer's `disc_auc`) beside the discriminator's. A plain
count model with no training loop shows what attending to neighbours is
worth on these replacements.

Example:
    ```
    PYTHONPATH=. python benchmarks/bigram_detector.py runs/study/baseline
    ```
"""

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pooled_auc(labels, scores):
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def main(argv=None):
    import tensorflow as tf

    from electra_keras import data
    from electra_keras.data.prepared import prepare_corpus
    from electra_keras.runs import RunFolder

    run = pathlib.Path((argv or sys.argv[1:])[0])
    folder = RunFolder(run)
    config, vocabulary, pretrainer = folder.read_config(), folder.read_vocabulary(), folder.load_pretrainer()
    inputs = folder.read_state().get("inputs", {})
    corpus = list(inputs.get("corpus", {})) or [str(p) for p in data.DEFAULT_CORPUS]
    prepared = prepare_corpus(config, corpus, folder.vocabulary_path)
    size = len(vocabulary)
    train_ids = prepared.train["token_ids"]
    train_mask = prepared.train["padding_mask"].astype(bool)
    unigram = np.bincount(train_ids[train_mask], minlength=size) + 1.0
    pairs = np.zeros((size, size), dtype=np.float32)
    both = train_mask[:, :-1] & train_mask[:, 1:]
    np.add.at(pairs, (train_ids[:, :-1][both], train_ids[:, 1:][both]), 1.0)
    pairs += 1.0
    forward = np.log(pairs / pairs.sum(1, keepdims=True))  # log P(next | current)

    batch_size = config.training.batch_size
    held_out = prepared.eval
    labels, disc, bigram, unigram_scores = [], [], [], []
    count = min(len(held_out["token_ids"]) // batch_size, config.training.eval_batches) * batch_size
    for start in range(0, count, batch_size):
        batch = {k: tf.constant(v[start : start + batch_size]) for k, v in held_out.items()}
        results = pretrainer.compute_objective(batch, pretrainer.evaluation_noise(batch), training=False)
        ids = results["corrupted_ids"].numpy()
        mask = batch["padding_mask"].numpy().astype(bool)
        logits = results["discriminator_logits"].numpy().reshape(ids.shape)
        for row in range(len(ids)):
            x = ids[row][mask[row]]
            left = np.zeros(len(x))
            right = np.zeros(len(x))
            left[1:] = -forward[x[:-1], x[1:]]
            right[:-1] = -forward[x[:-1], x[1:]]
            bigram.append(left + right)
            unigram_scores.append(-np.log(unigram[x] / unigram.sum()))
            labels.append(results["labels"].numpy()[row][mask[row]])
            disc.append(logits[row][mask[row]])
    labels, disc, bigram, unigram_scores = map(np.concatenate, (labels, disc, bigram, unigram_scores))
    print(
        f"{run}: {len(labels)} tokens, {labels.mean():.3f} replaced; AUC discriminator {pooled_auc(labels, disc):.3f}, "
        f"bigram counts {pooled_auc(labels, bigram):.3f}, unigram rarity {pooled_auc(labels, unigram_scores):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
