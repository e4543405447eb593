"""A quick downstream probe during pretraining: how linearly readable is the encoder?

At each evaluation the frozen discriminator encodes a labelled task's rows;
a ridge-regression classifier on one-hot targets (closed form, no training
loop, no randomness) is fitted on the train rows' features and scored on the
test rows. The features are the final [CLS] state concatenated with the mean
over real tokens. It costs two forward passes over a few thousand short
rows, so it can run at every evaluation; fine-tuning remains the real
measure (`scripts/finetune.py`, `benchmarks/electra_vs_mlm.py`).
"""

import pathlib

import keras
import numpy as np

from electra_keras.tasks.formats import labelled_rows


class ProbeTask:
    """Encoded train / test rows of a labelled task, ready to probe an encoder.

    Args:
        folder: a folder with `train.jsonl` and `test.jsonl` (`text`,
            `label`), as `scripts/fetch_labelled_data.py` writes them.
        tokenizer: the pretraining tokenizer.
        sequence_length: int.
        max_rows: int, cap on the rows of each split (a fixed random subset).
        l2: float, the ridge penalty on standardised features.

    Example:
    ```python
    task = ProbeTask("data/labelled/rotten_tomatoes", tokenizer, 64)
    task.accuracy(pretrainer.discriminator)  # e.g. 0.61
    ```
    """

    def __init__(self, folder, tokenizer, sequence_length, max_rows=2000, l2=1.0):
        folder = pathlib.Path(folder)
        splits = {}
        for split in ("train", "test"):
            path = folder / f"{split}.jsonl"
            if not path.exists():
                raise labelled_rows.LabelledDataError(f"{path}: missing; a probe folder needs train.jsonl and test.jsonl")
            texts, _, labels = labelled_rows.read_labelled(path)
            keep = sorted(np.random.default_rng(0).permutation(len(texts))[:max_rows])
            splits[split] = ([texts[i] for i in keep], [str(labels[i]) for i in keep])
        self.labels = sorted(set(splits["train"][1]))
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted(set(splits["test"][1]) - set(index))
        if unknown:
            raise labelled_rows.LabelledDataError(f"{folder / 'test.jsonl'}: labels {unknown} do not occur in train.jsonl")
        if len(self.labels) < 2:
            raise labelled_rows.LabelledDataError(f"{folder / 'train.jsonl'}: a probe needs at least two labels")
        self.name = folder.name
        self.l2 = l2
        self.inputs, self.targets = {}, {}
        for split, (texts, labels) in splits.items():
            self.inputs[split] = labelled_rows.encode_pairs(tokenizer, texts, [None] * len(texts), sequence_length)
            self.targets[split] = np.array([index[label] for label in labels])

    def features(self, encoder, split, batch_size=256):
        """`[rows, 2 * hidden]`: [CLS] state and mean over real tokens."""
        inputs = self.inputs[split]
        parts = []
        for start in range(0, len(inputs["token_ids"]), batch_size):
            batch = {key: value[start : start + batch_size] for key, value in inputs.items()}
            sequence = keras.ops.convert_to_numpy(encoder(batch, training=False)["sequence_output"]).astype("float64")
            mask = batch["padding_mask"][:, :, None].astype("float64")
            mean = (sequence * mask).sum(1) / np.maximum(mask.sum(1), 1.0)
            parts.append(np.concatenate([sequence[:, 0], mean], axis=-1))
        return np.concatenate(parts)

    def accuracy(self, encoder):
        """Test accuracy of a ridge classifier fitted on the train features."""
        train, test = self.features(encoder, "train"), self.features(encoder, "test")
        center, scale = train.mean(0), train.std(0) + 1e-6
        train, test = (train - center) / scale, (test - center) / scale
        train = np.concatenate([train, np.ones((len(train), 1))], axis=1)
        test = np.concatenate([test, np.ones((len(test), 1))], axis=1)
        one_hot = np.eye(len(self.labels))[self.targets["train"]]
        penalty = self.l2 * np.eye(train.shape[1])
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        weights = np.linalg.solve(train.T @ train + penalty, train.T @ one_hot)
        return float(np.mean((test @ weights).argmax(-1) == self.targets["test"]))
