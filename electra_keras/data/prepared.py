"""A pretraining run's data, ready for `fit`: from text files or a built dataset.

`prepare_corpus` reads, tokenizes and packs text in memory (a vocabulary is
learned when none is given); `prepare_built` streams the shards
`scripts/build_dataset.py` wrote. Both give a `PreparedData`. The held-out
examples depend on `data.split_seed` (in memory) or the build's seed
(built shards), never on `training.seed`.
"""

import dataclasses
import logging
import pathlib
import typing

import numpy as np

from electra_keras.data import corpus
from electra_keras.data import packing
from electra_keras.data import shard_format
from electra_keras.data import tf_pipeline
from electra_keras.data import tokenizer as tokenization

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PreparedData:
    """What a pretraining run reads.

    Attributes:
        tokenizer: the keras-hub `ElectraTokenizer`.
        vocabulary: list of tokens.
        make_train_dataset: returns a new repeating, shuffled `tf.data`
            dataset of batches each call (a second iterator over one seeded
            dataset would draw the next permutation, not the first).
        eval_dataset: held-out batches, or None.
        sample_texts: a few real lines (warmup requests, the logged sample).
        statistics: counts for logs and `metrics.json`.
        train, eval: the packed examples (in-memory corpora only).
    """

    tokenizer: typing.Any
    vocabulary: list
    make_train_dataset: typing.Callable
    eval_dataset: typing.Any
    sample_texts: list
    statistics: dict
    train: typing.Optional[dict] = None
    eval: typing.Optional[dict] = None


def prepare_corpus(config, corpus_paths, vocabulary=None):
    """Reads, tokenizes and packs a corpus; learns a vocabulary if none is given.

    Args:
        config: `ElectraConfig` (its `data` and `training` sections).
        corpus_paths: text, JSONL or CSV files.
        vocabulary: a `vocab.txt` path, a list of tokens, or None to learn
            `data.vocabulary_size` tokens from the corpus.

    Example:
    ```python
    prepared = prepare_corpus(config, ["corpus.txt"], "vocab.txt")
    pretrainer.fit(prepared.make_train_dataset(), steps_per_epoch=100)
    ```
    """
    documents, statistics = corpus.read_corpus(corpus_paths)
    if vocabulary is None:
        logger.info("building a %d-token WordPiece vocabulary", config.data.vocabulary_size)
        lines = [line for document in documents for line in document]
        vocabulary = tokenization.build_vocabulary(
            lines, config.data.vocabulary_size, config.data.lowercase, config.data.strip_accents
        )
    elif not isinstance(vocabulary, (list, tuple)):
        vocabulary = tokenization.load_vocabulary(vocabulary)
    tokenizer = tokenization.make_tokenizer(vocabulary, config.data.lowercase, config.data.strip_accents)
    examples = packing.pack_documents(
        packing.tokenize_documents(documents, tokenizer),
        config.data.sequence_length,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        single_segment_probability=config.data.single_segment_probability,
        short_sequence_probability=config.data.short_sequence_probability,
        seed=config.data.split_seed,
    )
    batch_size, seed = config.training.batch_size, config.training.seed
    train, held_out = packing.split_examples(
        examples, config.data.eval_fraction, batch_size, seed=config.data.split_seed
    )
    statistics = dataclasses.asdict(statistics)
    statistics.update(
        examples=len(examples["token_ids"]),
        train_examples=len(train["token_ids"]),
        eval_examples=len(held_out["token_ids"]),
        tokens=int(examples["padding_mask"].sum()),
    )
    return PreparedData(
        tokenizer=tokenizer,
        vocabulary=list(vocabulary),
        make_train_dataset=lambda: tf_pipeline.make_dataset(train, batch_size, seed=seed),
        eval_dataset=tf_pipeline.make_dataset(held_out, batch_size, shuffle=False, repeat=False),
        sample_texts=[document[0] for document in documents[:32]],
        statistics=statistics,
        train=train,
        eval=held_out,
    )


def held_out_size(eval_dataset):
    """`{"examples", "tokens"}`: what an evaluation over `eval_dataset` covers (tokens without padding).

    Example:
    ```python
    held_out_size(prepared.eval_dataset.take(config.training.eval_batches))  # {"examples": 80, "tokens": 9710}
    ```
    """
    examples = tokens = 0
    for batch in eval_dataset if eval_dataset is not None else ():
        examples += int(batch["padding_mask"].shape[0])
        tokens += int(np.sum(batch["padding_mask"]))
    return {"examples": examples, "tokens": tokens}


def prepare_built(config, data_dir, vocabulary_path=None):
    """Streams a dataset built by `scripts/build_dataset.py`.

    Refuses a `vocabulary_path` whose SHA-256 differs from the one the
    dataset was built with, and a sequence length other than the config's.

    Example:
    ```python
    prepared = prepare_built(config, "data/built")
    ```
    """
    data_dir = pathlib.Path(data_dir)
    manifest = shard_format.read_manifest(data_dir)
    vocabulary_path = pathlib.Path(vocabulary_path or data_dir / "vocab.txt")
    vocabulary = tokenization.load_vocabulary(vocabulary_path)
    digest = corpus.file_sha256(vocabulary_path)
    if digest != manifest["vocabulary_sha256"]:
        raise corpus.CorpusError(
            f"{vocabulary_path} (sha256 {digest[:12]}...) is not the vocabulary {data_dir} was "
            f"built with (sha256 {manifest['vocabulary_sha256'][:12]}...); use {data_dir / 'vocab.txt'}"
        )
    settings = manifest["settings"]
    if settings["sequence_length"] != config.data.sequence_length:
        raise corpus.CorpusError(
            f"{data_dir} holds sequences of {settings['sequence_length']} tokens but data.sequence_length is "
            f"{config.data.sequence_length}; pass --set data.sequence_length={settings['sequence_length']}"
        )
    tokenizer = tokenization.make_tokenizer(vocabulary, settings["lowercase"], settings["strip_accents"])
    batch_size, seed = config.training.batch_size, config.training.seed
    eval_dataset = None
    if manifest["shards"]["eval"]:
        eval_dataset = tf_pipeline.make_tfrecord_dataset(data_dir, batch_size, split="eval", shuffle=False, repeat=False)
    return PreparedData(
        tokenizer=tokenizer,
        vocabulary=vocabulary,
        make_train_dataset=lambda: tf_pipeline.make_tfrecord_dataset(data_dir, batch_size, seed=seed),
        eval_dataset=eval_dataset,
        sample_texts=[],
        statistics={"data_dir": str(data_dir), **manifest["totals"]},
    )
