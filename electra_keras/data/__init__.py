"""Text in, batches out: corpus reading, vocabularies, packing, shards, pipelines.

One module per step, in the order data flows:

- `corpus`: corpus files (`.txt`, `.jsonl`, `.csv`, optionally `.gz`) into
  documents, with problems counted or reported by file and line.
- `tokenizer`: WordPiece vocabularies and the keras-hub tokenizer.
- `packing`: tokenized documents into `[CLS] A [SEP] B [SEP]` examples.
- `shard_format`: the TFRecord shards and manifest of a built dataset,
  written once: the writer, the `tf.io` parse spec and a NumPy decoder.
- `builder`: a corpus into shards, in parallel, resumable.
- `tf_pipeline` / `numpy_pipeline`: batches for `fit`, with and without
  TensorFlow.
- `offsets`: WordPiece tokens with their character offsets.

Labelled files (rows, tagged sentences, SQuAD) and their metrics live in
`electra_keras.tasks.formats`; their public names stay importable from
here, as before.

The names below are importable from `electra_keras.data` directly; they
load their module on first use, so that `numpy_batches` works on a machine
without TensorFlow.

Example:
```python
from electra_keras import data

documents, _ = data.read_corpus(["corpus.txt"])
tokenizer = data.make_tokenizer(data.DEFAULT_VOCABULARY)
examples = data.pack_documents(data.tokenize_documents(documents, tokenizer), 128, 2, 3)
dataset = data.make_dataset(examples, batch_size=32)
```
"""

import importlib

_EXPORTS = {
    "corpus": (
        "DEFAULT_CORPUS", "DEFAULT_CORPUS_DIR", "DEFAULT_VOCABULARY", "CorpusError", "CorpusStatistics",
        "InputStatistics", "file_sha256", "iter_documents", "read_corpus",
    ),
    "tokenizer": (
        "SPECIAL_TOKENS", "BertWordPieceTokenizer", "VocabularyError", "build_vocabulary", "load_vocabulary",
        "make_tokenizer", "never_masked_ids", "save_vocabulary", "special_ids_of",
    ),
    "bert_text": ("BertWordPiece", "split_words"),
    "packing": ("pack_documents", "split_examples", "tokenize_documents"),
    "shard_format": ("RecordError", "read_manifest", "read_shard"),
    "builder": ("BuildError", "BuildSettings", "build_dataset"),
    "tf_pipeline": ("make_dataset", "make_tfrecord_dataset"),
    "numpy_pipeline": ("numpy_batches", "numpy_tfrecord_batches"),
    "offsets": ("OffsetTokenizer", "byte_to_char_offsets"),
    # Moved to electra_keras.tasks.formats; forwarded so that old imports work.
    "labelled_rows": ("LabelledDataError", "encode_pairs", "read_labelled"),
    "tagging": ("TaggedSentence", "encode_tagged", "entity_metrics", "entity_spans", "read_tagged", "repair_tags"),
    "squad": (
        "AnswerPrediction", "SquadDataError", "SquadExample", "apply_null_threshold", "best_null_threshold",
        "decode_answers", "make_windows", "read_squad", "squad_metrics",
    ),
}
_MOVED = ("labelled_rows", "tagging", "squad")
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    package = "electra_keras.tasks.formats" if module in _MOVED else __name__
    return getattr(importlib.import_module(f"{package}.{module}"), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
