"""keras-hub-style preprocessors: raw strings in, ELECTRA's inputs out.

Both are `keras_hub.models.Preprocessor` layers (a tokenizer and keras-hub's
`MultiSegmentPacker`), usable inside `tf.data.Dataset.map`, saved and loaded
with `save_to_preset` / `from_preset` like keras-hub's own.
"""

import keras
import keras_hub
from keras_hub.src.utils.tensor_utils import preprocessing_function

from electra_keras.data import tokenizer as tokenization


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraPretrainingPreprocessor(keras_hub.models.Preprocessor):
    """Strings (or pairs of strings) to `token_ids`, `segment_ids`, `padding_mask`.

    Each string becomes one example, `[CLS] text [SEP]` (or `[CLS] a [SEP] b
    [SEP]` for a pair, passed as `preprocessor((a, b), y=None)`, keras-hub's
    convention), trimmed and padded to `sequence_length`. Masks are not
    drawn here: `ElectraPretrainer` draws new ones at every step.

    Args:
        tokenizer: a `BertWordPieceTokenizer` (BERT's exact tokenization; any
            `keras_hub.models.ElectraTokenizer` works, with keras-hub's splitting).
        sequence_length: int, the length of every example.
        truncate: "round_robin" or "waterfall", how a pair is trimmed.

    Example:
    ```python
    preprocessor = ElectraPretrainingPreprocessor(
        BertWordPieceTokenizer(vocabulary="vocab.txt"), sequence_length=64
    )
    dataset = tf.data.TextLineDataset("corpus.txt").batch(32).map(preprocessor)
    ```
    """

    backbone_cls = keras_hub.models.ElectraBackbone
    tokenizer_cls = keras_hub.models.ElectraTokenizer

    def __init__(self, tokenizer, sequence_length=128, truncate="round_robin", **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.packer = None
        self.sequence_length = sequence_length
        self.truncate = truncate

    def build(self, input_shape):
        super().build(input_shape)
        # After the tokenizer's assets are loaded (a restored preset).
        self.packer = keras_hub.layers.MultiSegmentPacker(
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=self.tokenizer.pad_token_id,
            truncate=self.truncate,
            sequence_length=self.sequence_length,
        )

    @preprocessing_function  # keras-hub's: lists to tensors in, backend tensors out
    def call(self, x, y=None, sample_weight=None):
        x = x if isinstance(x, tuple) else (x,)
        token_ids, segment_ids = self.packer(tuple(self.tokenizer(segment) for segment in x))
        x = {
            "token_ids": keras.ops.cast(token_ids, "int32"),
            "segment_ids": keras.ops.cast(segment_ids, "int32"),
            "padding_mask": keras.ops.cast(token_ids != self.tokenizer.pad_token_id, "int32"),
        }
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    @property
    def sequence_length(self):
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._sequence_length = value
        if self.packer is not None:
            self.packer.sequence_length = value

    @property
    def mask_token_id(self):
        return self.tokenizer.mask_token_id

    @property
    def special_token_ids(self):
        """Ids never masked: [PAD], [CLS], [SEP], [MASK]."""
        return tokenization.never_masked_ids(self.tokenizer)

    @classmethod
    def from_vocabulary(cls, vocabulary, sequence_length=128, lowercase=False, strip_accents=None,
                        tokenize_chinese_chars=True, **kwargs):
        """A preprocessor over a `vocab.txt` path or a list of tokens.

        Example:
        ```python
        preprocessor = ElectraPretrainingPreprocessor.from_vocabulary("vocab.txt", sequence_length=64)
        ```
        """
        tokenizer = tokenization.make_tokenizer(vocabulary, lowercase, strip_accents, tokenize_chinese_chars)
        return cls(tokenizer, sequence_length=sequence_length, **kwargs)

    @classmethod
    def from_corpus(cls, paths, vocabulary_size=8000, sequence_length=128, lowercase=False, **kwargs):
        """A preprocessor whose WordPiece vocabulary is learned from corpus files.

        Example:
        ```python
        preprocessor = ElectraPretrainingPreprocessor.from_corpus(["corpus.txt"], 8000, 64)
        ```
        """
        from electra_keras.data.corpus import read_corpus

        documents, _ = read_corpus(paths)
        lines = [line for document in documents for line in document]
        vocabulary = tokenization.build_vocabulary(lines, vocabulary_size, lowercase)
        return cls.from_vocabulary(vocabulary, sequence_length, lowercase, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "truncate": self.truncate})
        return config


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraTextClassifierPreprocessor(keras_hub.models.TextClassifierPreprocessor):
    """keras-hub's text classifier preprocessing with ELECTRA's tokenizer.

    `[CLS] text [SEP]` (or a pair), trimmed and padded to `sequence_length`;
    labels pass through.

    Example:
    ```python
    preprocessor = ElectraTextClassifierPreprocessor(
        BertWordPieceTokenizer(vocabulary="vocab.txt"), sequence_length=128
    )
    x, y = preprocessor(["a quiet triumph"], [1])
    ```
    """

    backbone_cls = keras_hub.models.ElectraBackbone
    tokenizer_cls = keras_hub.models.ElectraTokenizer
