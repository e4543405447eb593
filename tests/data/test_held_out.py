"""The held-out split of an in-memory corpus: fixed by `data.split_seed`, never by `training.seed`, and counted."""

import gzip

import numpy as np
import pytest

from electra_keras import data
from electra_keras.config import ElectraConfig
from electra_keras.data.prepared import held_out_size
from electra_keras.data.prepared import prepare_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    with gzip.open(data.DEFAULT_CORPUS[0], "rt", encoding="utf-8") as file:
        lines = file.read().splitlines()[:400]
    path = tmp_path_factory.mktemp("corpus") / "brown.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return [path]


def prepared_with(corpus, **overrides):
    config = ElectraConfig.from_dict({
        "data": {"sequence_length": 32, "eval_fraction": 0.1, "split_seed": overrides.get("split_seed", 0)},
        "training": {"batch_size": 8, "seed": overrides.get("seed", 0)},
    })
    return prepare_corpus(config, corpus, data.DEFAULT_VOCABULARY)


def test_runs_with_different_training_seeds_evaluate_on_the_same_examples(corpus):
    first, second = prepared_with(corpus, seed=1), prepared_with(corpus, seed=2)
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(first.eval[key], second.eval[key])
    assert len(first.eval["token_ids"]) >= 8
    # The training order still follows training.seed.
    first_batch = next(iter(first.make_train_dataset()))["token_ids"].numpy()
    second_batch = next(iter(second.make_train_dataset()))["token_ids"].numpy()
    assert not np.array_equal(first_batch, second_batch)
    # And another split seed holds out other examples.
    other = prepared_with(corpus, seed=1, split_seed=7)
    assert not np.array_equal(first.eval["token_ids"], other.eval["token_ids"])


def test_held_out_size_counts_the_examples_and_real_tokens_an_evaluation_covers(corpus):
    prepared = prepared_with(corpus)
    count = len(prepared.eval["token_ids"])
    assert held_out_size(prepared.eval_dataset) == {
        # Whole batches of 8 only (the eval dataset drops a last partial batch).
        "examples": count // 8 * 8,
        "tokens": int(prepared.eval["padding_mask"][: count // 8 * 8].sum()),
    }
    assert held_out_size(prepared.eval_dataset.take(1)) == {
        "examples": 8, "tokens": int(prepared.eval["padding_mask"][:8].sum()),
    }
    assert held_out_size(None) == {"examples": 0, "tokens": 0}
