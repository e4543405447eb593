"""A fine-tuned tagger as a SavedModel for TF Serving: text in, entity spans out.

Signature `tag` (also `serving_default`): `text` `[batch]` strings in; out,
padded to the most entities of a row in the batch:

- `entity_labels` `[batch, entities]` (the type, e.g. `PER`; "" for padding),
- `entity_texts`, the entity as it is written in the text,
- `entity_starts`, `entity_ends` int32 character offsets (end exclusive;
  -1 for padding), so `text[start:end]` is the entity,
- `entity_scores` float32, the mean probability of the entity's word tags,
- `num_entities` `[batch]` int32.

A word is a whitespace-separated piece of the text (a CoNLL token in
training, where the words were joined by spaces), punctuation attached to
it included ("Seoul." is one word in raw text); its tag is the model's
label for its first subword, and entities are read from the word tags as
the CoNLL evaluation reads them. Words past the model's length get no tag.
Only TensorFlow core ops and the tensorflow-text ops the stock model server
links (`RegexSplitWithOffsets`, `FastWordpieceTokenizeWithOffsets`) are used.
"""

import tensorflow as tf
import tensorflow_text as tf_text

from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.export.fused_encoder import serving_task_model
from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.request_limits import RequestLimits
from electra_keras.export.savedmodel import DEFAULT_WARMUP_TEXTS
from electra_keras.export.savedmodel import write_saved_model
from electra_keras.export.text_encoding import _ROW  # row * _ROW + byte offset: one sorted key over a batch
from electra_keras.export.text_encoding import char_offsets
from electra_keras.export.text_encoding import valid_utf8
from electra_keras.tasks.formats.tagging import OUTSIDE
from electra_keras.tasks.formats.tagging import _split_tag

_PREFIXES = {OUTSIDE: 0, "B": 1, "I": 2, "E": 3, "S": 4}
# Unicode spaces (U+3000 in CJK text, no-break spaces) split words as Python's str.split()
# does for CoNLL files; keras-hub's tokenizer splits on ASCII whitespace only, so they become
# ASCII spaces of the same byte length before tokenizing, and offsets stay those of the text.
_SPACES_BY_BYTES = (
    (r"\x00", "\x01"),  # the split below stops at a NUL; BERT drops both
    (r"[\x{85}\x{a0}]", "  "),
    (r"[\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]", "   "),
)
_WHITESPACE = r"[\s\x0b\x1c-\x1f]+"


class TaggerServingModule(tf.Module):
    """Serving signature `tag` of a fine-tuned `ElectraTokenClassifier` (see the module doc).

    Args:
        tagger: an `electra_keras.models.ElectraTokenClassifier`.
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length: int.
        labels: tag names in logit order (`O`, `B-PER`, ...).
        lowercase, strip_accents, tokenize_chinese_chars: BERT's tokenizer settings, as in training.
        length_buckets: a `LengthBuckets`, as in `DiscriminatorServingModule`.
        request_limits: a `RequestLimits`, as in `DiscriminatorServingModule`.
        fused: bool, run the encoder as a `FusedEncoder` where it can, as in
            `DiscriminatorServingModule`.

    Example:
    ```python
    module = TaggerServingModule(tagger, "vocab.txt", 128, ["B-LOC", "I-LOC", "O"])
    module.tag(tf.constant(["Kim lives in Seoul"]))["entity_texts"]  # [[b"Seoul"]]
    ```
    """

    def __init__(self, tagger, vocabulary, sequence_length, labels, lowercase=False, strip_accents=None,
                 length_buckets=None, tokenize_chinese_chars=True, request_limits=None, fused=True):
        super().__init__()
        self.request_limits = RequestLimits.of(request_limits)
        self.length_buckets = LengthBuckets.for_length(length_buckets, sequence_length)
        if not isinstance(vocabulary, (list, tuple)):
            vocabulary = load_vocabulary(vocabulary)
        outputs = tagger.outputs[0].shape[-1]
        if len(labels) != outputs:
            raise ValueError(f"{len(labels)} labels given for a tagger of {outputs} outputs")
        self.model = serving_task_model(tagger, fused, self.length_buckets)
        self.sequence_length = sequence_length
        self.tokenizer = OffsetTokenizer(vocabulary, lowercase, strip_accents, tokenize_chinese_chars)
        self.vocabulary = list(vocabulary)
        index = {token: i for i, token in enumerate(vocabulary)}
        self.cls_id, self.sep_id, self.pad_id = index["[CLS]"], index["[SEP]"], index["[PAD]"]
        malformed = [str(label) for label in labels
                     if str(label) != OUTSIDE and not (len(str(label)) > 2 and str(label)[0] in "BIES"
                                                      and str(label)[1] in "-_")]
        if malformed:
            raise ValueError(f"tags {malformed} are not O or B-/I-/E-/S- and a type; rename the labels "
                             "(for example PER-B to B-PER) before exporting")
        parts = [_split_tag(str(label)) for label in labels]
        types = sorted({kind for _, kind in parts if kind})
        self.prefixes = tf.constant([_PREFIXES[prefix] for prefix, _ in parts], tf.int32)
        self.types = tf.constant([types.index(kind) if kind else -1 for _, kind in parts], tf.int32)
        self.type_names = tf.constant(types or [""], tf.string)
        self.tag = tf.function(self._tag, input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    @property
    def resources(self):
        return self.model.resources

    def encode(self, text):
        """Model inputs and each kept subword's bytes, `(inputs, starts, ends)` with ragged `starts`, `ends`."""
        ids, starts, ends = self.tokenizer(text)
        keep = self.sequence_length - 2
        ids, starts, ends = ids[:, :keep], starts[:, :keep], ends[:, :keep]
        batch = tf.shape(text)[0]
        edge = tf.ones([batch, 1], tf.int32)
        framed = tf.concat([tf.RaggedTensor.from_tensor(edge * self.cls_id), ids,
                            tf.RaggedTensor.from_tensor(edge * self.sep_id)], axis=1)
        token_ids = framed.to_tensor(default_value=self.pad_id, shape=[None, self.sequence_length])
        mask = tf.cast(tf.sequence_mask(framed.row_lengths(), self.sequence_length), tf.int32)
        return {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids), "padding_mask": mask}, starts, ends

    def _tag(self, text):
        text = self.request_limits.checked("text", valid_utf8(text))
        spaced = text
        for pattern, spaces in _SPACES_BY_BYTES:
            spaced = tf.strings.regex_replace(spaced, pattern, spaces)
        inputs, starts, ends = self.encode(spaced)
        per_token, _ = self.length_buckets.run(
            lambda group: ({"probabilities": tf.nn.softmax(tf.cast(self.model(group), tf.float32))}, {}),
            inputs,
        )
        probabilities = per_token["probabilities"]
        # Per kept subword (skip [CLS]): its label and that label's probability.
        token_probabilities = tf.RaggedTensor.from_tensor(probabilities[:, 1:], lengths=starts.row_lengths())
        label = tf.argmax(token_probabilities.flat_values, axis=-1, output_type=tf.int32)
        score = tf.reduce_max(token_probabilities.flat_values, axis=-1)
        token_row = tf.cast(starts.value_rowids(), tf.int64)

        # Whitespace words; a subword starts a word when it is the first in it.
        _, word_starts, _ = tf_text.regex_split_with_offsets(spaced, _WHITESPACE)
        word_keys = tf.cast(word_starts.value_rowids(), tf.int64) * _ROW + word_starts.flat_values
        token_keys = token_row * _ROW + tf.cast(starts.flat_values, tf.int64)
        token_word = tf.searchsorted(word_keys, token_keys, side="right", out_type=tf.int64) - 1
        first = token_word != _shifted(token_word, -1)
        word_label, word_score = tf.boolean_mask(label, first), tf.boolean_mask(score, first)
        word_row = tf.boolean_mask(token_row, first)
        # A word spans its subwords' characters: characters BERT drops at its edges (NUL, zero-width) stay out.
        word_start = tf.cast(tf.boolean_mask(starts.flat_values, first), tf.int64)
        word_of_token = tf.cumsum(tf.cast(first, tf.int32)) - 1
        word_end = tf.cast(tf.math.unsorted_segment_max(
            ends.flat_values, word_of_token, tf.reduce_sum(tf.cast(first, tf.int32))), tf.int64)

        # conlleval's chunk rules on each row's word tags (see data/tagging.py).
        prefix, kind = tf.gather(self.prefixes, word_label), tf.gather(self.types, word_label)
        row_first = word_row != _shifted(word_row, -1)
        previous_prefix = tf.where(row_first, 0, _shifted(prefix, 0))
        previous_kind = tf.where(row_first, -1, _shifted(kind, -1))
        inside = prefix != 0
        opens = (prefix == 1) | (prefix == 4)
        opens |= ((previous_prefix == 0) | (previous_prefix >= 3)) & ((prefix == 2) | (prefix == 3))
        opens |= inside & (previous_kind != kind)
        chunk = tf.cumsum(tf.cast(opens, tf.int32)) - 1
        count = tf.reduce_sum(tf.cast(opens, tf.int32))
        member = tf.boolean_mask(chunk, inside)
        byte_start = tf.math.unsorted_segment_min(tf.boolean_mask(word_start, inside), member, count)
        byte_end = tf.math.unsorted_segment_max(tf.boolean_mask(word_end, inside), member, count)
        entity_score = tf.math.unsorted_segment_mean(tf.boolean_mask(word_score, inside), member, count)
        entity_row = tf.boolean_mask(word_row, opens)
        entity_label = tf.gather(self.type_names, tf.maximum(tf.boolean_mask(kind, opens), 0))
        row_text = tf.gather(text, entity_row)
        entity_text = tf.strings.substr(row_text, byte_start, byte_end - byte_start)

        char_start = char_offsets(text, entity_row, byte_start)
        char_end = char_offsets(text, entity_row, byte_end)

        rows = tf.cast(tf.shape(text)[0], tf.int64)

        def by_row(values, padding):
            return tf.RaggedTensor.from_value_rowids(values, entity_row, nrows=rows).to_tensor(padding)

        return {
            "entity_labels": by_row(entity_label, ""),
            "entity_texts": by_row(entity_text, ""),
            "entity_starts": by_row(tf.cast(char_start, tf.int32), -1),
            "entity_ends": by_row(tf.cast(char_end, tf.int32), -1),
            "entity_scores": by_row(entity_score, 0.0),
            "num_entities": tf.cast(tf.math.bincount(tf.cast(entity_row, tf.int32), minlength=tf.cast(rows, tf.int32),
                                                     maxlength=tf.cast(rows, tf.int32)), tf.int32),
        }


def _shifted(values, first):
    """`values` moved one place later, `first` in front (empty stays empty)."""
    return tf.concat([tf.constant([first], values.dtype), values], axis=0)[:-1]


def export_tagger(tagger, export_dir, vocabulary, sequence_length, labels, lowercase=False, strip_accents=None,
                  warmup_texts=None, length_buckets=None, tokenize_chinese_chars=True, request_limits=None,
                  fused=True):
    """Writes a fine-tuned tagger as a SavedModel with the `tag` signature, atomically.

    `length_buckets` (a `LengthBuckets`) sets the widths the model runs at;
    `request_limits` (a `RequestLimits` or a dict of its arguments) the
    largest request served; `fused=False` serves the Keras layers rather
    than a `FusedEncoder`.

    Example:
    ```python
    electra_keras.export.export_tagger(tagger, "models/ner/1", "vocab.txt", 128, ["B-PER", "I-PER", "O"])
    # REST: POST /v1/models/ner:predict {"signature_name": "tag", "instances": ["Kim lives in Seoul"]}
    ```
    """
    module = TaggerServingModule(
        tagger, vocabulary, sequence_length, labels, lowercase, strip_accents, length_buckets, tokenize_chinese_chars,
        request_limits, fused,
    )
    module.tag(tf.constant(["built"]))
    endpoints = {"tag": module.tag, "serving_default": module.tag}
    shapes = module.length_buckets.warmup_requests(module.vocabulary)
    return write_saved_model(
        export_dir, module.resources, endpoints, list(warmup_texts or DEFAULT_WARMUP_TEXTS), shapes,
        module.request_limits,
    )
