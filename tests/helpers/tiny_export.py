"""A tiny discriminator exported as a SavedModel: in a test, or as a process a test can kill.

Example:
    ```
    python tests/helpers/tiny_export.py models/electra/2
    ```
"""

import sys

import keras
import numpy as np
import tensorflow as tf

from electra_keras import export
from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.pretraining.trainer import ElectraPretrainer

TEXTS = ["The chef cooked the meal in the kitchen.", "Seoul is the capital of Korea.", "A third, short one."]
LENGTH = 24


def tiny_pretrainer(seed=0, texts=TEXTS):
    """A small, untrained pretrainer and the vocabulary learned from `texts`; `seed` sets the weights."""
    keras.utils.set_random_seed(seed)
    vocabulary = build_vocabulary(list(texts) * 10, 300)
    pretrainer = ElectraPretrainer(
        {"vocabulary_size": len(vocabulary), "embedding_size": 16, "hidden_size": 32, "num_layers": 2,
         "num_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64},
        {}, mask_token_id=4, special_token_ids=[0, 2, 3, 4],
    )
    pretrainer({"token_ids": np.full((1, 8), 5, "int32"), "segment_ids": np.zeros((1, 8), "int32"),
                "padding_mask": np.ones((1, 8), "int32")})
    return pretrainer, vocabulary


def export_tiny(export_dir, seed=0):
    """Exports `tiny_pretrainer(seed)`'s discriminator to `export_dir`."""
    pretrainer, vocabulary = tiny_pretrainer(seed)
    return export.export_discriminator(pretrainer, export_dir, vocabulary, LENGTH, warmup_texts=TEXTS)


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    export_tiny(sys.argv[1], seed=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
