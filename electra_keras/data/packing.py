"""Tokenized documents packed into fixed-length pretraining examples.

An example is `[CLS] A [SEP] B [SEP]` (or `[CLS] A [SEP]`) packed from the
consecutive lines of one document, padded to the sequence length. Masks are
not stored: the pretrainer draws new ones every time it sees an example.
"""

import numpy as np


def tokenize_documents(documents, tokenizer, batch_size=1024):
    """Tokenizes every line inside tf.data; returns lists of id arrays.

    Example:
    ```python
    token_documents = electra_keras.data.tokenize_documents(documents, tokenizer)
    ```
    """
    import tensorflow as tf

    lines = [line for document in documents for line in document]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, dtype=tf.string))
    dataset = dataset.batch(batch_size).map(tokenizer, num_parallel_calls=tf.data.AUTOTUNE)
    token_lines = []
    for batch in dataset:
        token_lines.extend(np.split(batch.flat_values.numpy(), batch.row_splits.numpy()[1:-1]))
    token_documents = []
    start = 0
    for document in documents:
        token_documents.append(token_lines[start : start + len(document)])
        start += len(document)
    return token_documents


def pack_documents(
    token_documents,
    sequence_length,
    cls_token_id,
    sep_token_id,
    pad_token_id=0,
    single_segment_probability=0.1,
    short_sequence_probability=0.05,
    seed=0,
):
    """Packs tokenized documents into fixed-length two-segment examples.

    Consecutive lines of a document fill an example up to its target length
    (the full length, or with `short_sequence_probability` a random shorter
    one, as the official builder). The lines are then split at a random line
    boundary into segments A and B, or with `single_segment_probability` kept
    as one segment. Unlike the official builder nothing is truncated: a line
    longer than an example is cut into pieces, so every token is used once,
    in order. Documents are never merged into one example.

    Returns:
        dict of int32 arrays `token_ids`, `segment_ids`, `padding_mask`, each
        `[num_examples, sequence_length]`.

    Example:
    ```python
    examples = electra_keras.data.pack_documents(token_documents, 128, cls_token_id=2, sep_token_id=3)
    ```
    """
    rng = np.random.default_rng(seed)
    budget = sequence_length - 3  # [CLS] A [SEP] B [SEP]
    examples = []
    for document in token_documents:
        pieces = []
        for line in document:
            line = np.asarray(line, dtype=np.int32)
            pieces.extend(line[i : i + budget] for i in range(0, len(line), budget))
        pieces = [piece for piece in pieces if len(piece)]
        current, current_length = [], 0
        target = _target_length(rng, budget, short_sequence_probability)
        for piece in pieces:
            if current and current_length + len(piece) > target:
                examples.append(_frame(current, rng, single_segment_probability))
                current, current_length = [], 0
                target = _target_length(rng, budget, short_sequence_probability)
            current.append(piece)
            current_length += len(piece)
        if current:
            examples.append(_frame(current, rng, single_segment_probability))
    token_ids = np.full((len(examples), sequence_length), pad_token_id, dtype=np.int32)
    segment_ids = np.zeros((len(examples), sequence_length), dtype=np.int32)
    padding_mask = np.zeros((len(examples), sequence_length), dtype=np.int32)
    for row, (first, second) in enumerate(examples):
        ids = [cls_token_id, *first, sep_token_id]
        segments = [0] * len(ids)
        if len(second):
            ids += [*second, sep_token_id]
            segments += [1] * (len(second) + 1)
        token_ids[row, : len(ids)] = ids
        segment_ids[row, : len(ids)] = segments
        padding_mask[row, : len(ids)] = 1
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def _target_length(rng, budget, short_sequence_probability):
    if rng.random() < short_sequence_probability:
        return int(rng.integers(min(5, budget), budget + 1))
    return budget


def _frame(pieces, rng, single_segment_probability):
    if len(pieces) < 2 or rng.random() < single_segment_probability:
        return np.concatenate(pieces), np.zeros(0, dtype=np.int32)
    split = int(rng.integers(1, len(pieces)))
    return np.concatenate(pieces[:split]), np.concatenate(pieces[split:])


def split_examples(examples, eval_fraction, min_eval_examples, seed=0):
    """Shuffles examples and holds out a share for evaluation.

    Example:
    ```python
    train, held_out = electra_keras.data.split_examples(examples, 0.02, 64)
    ```
    """
    count = len(examples["token_ids"])
    order = np.random.default_rng(seed).permutation(count)
    num_eval = min(max(int(count * eval_fraction), min_eval_examples), count // 2)
    held_out = {key: value[order[:num_eval]] for key, value in examples.items()}
    train = {key: value[order[num_eval:]] for key, value in examples.items()}
    return train, held_out
