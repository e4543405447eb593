"""Fine-tuning heads on an ELECTRA encoder, as Keras functional models."""

import keras

from electra_keras.models.layer_settings import activation_by_name


def _encoder_inputs():
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
    }


class ElectraClassifier(keras.Model):
    """Sequence classification (or regression) on the discriminator's [CLS].

    The head is dropout, dense (hidden, the encoder's gelu), dropout, dense
    (`num_classes` logits), on the final hidden state of the first token, as
    Hugging Face's `ElectraForSequenceClassification`; the unpretrained
    pooler is not used. `num_classes=1` gives one score, for regression.

    Args:
        encoder: an `ElectraEncoder` (e.g. `pretrainer.discriminator`).
        num_classes: int.
        dropout: float.

    Example:
    ```python
    classifier = ElectraClassifier(pretrainer.discriminator, num_classes=2)
    classifier.compile(
        optimizer=layerwise_decay_adamw(classifier, 1e-4, num_layers=12),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(dataset)  # ({token_ids, segment_ids, padding_mask}, label) batches
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.1, **kwargs):
        inputs = _encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        first_token = keras.layers.Lambda(lambda x: x[:, 0, :], name="first_token")(sequence)
        x = keras.layers.Dropout(dropout, name="head_dropout")(first_token)
        x = keras.layers.Dense(
            encoder.hidden_dim, activation=activation_by_name(encoder.activation), name="head_dense"
        )(x)
        x = keras.layers.Dropout(dropout, name="head_output_dropout")(x)
        logits = keras.layers.Dense(num_classes, name="head_logits", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.dropout = dropout


class ElectraTokenClassifier(keras.Model):
    """A label for every token (tagging), on the discriminator's sequence output.

    The head is dropout and one dense layer on every token's final hidden
    state, as Hugging Face's `ElectraForTokenClassification`. Inputs come
    from `electra_keras.tasks.formats.tagging.encode_tagged`, whose labels put
    `IGNORED_LABEL` (-100) on every subword but a word's first.

    Args:
        encoder: an `ElectraEncoder` (e.g. `pretrainer.discriminator`).
        num_classes: int, the number of tags.
        dropout: float.

    Example:
    ```python
    encoded = encode_tagged(OffsetTokenizer(vocabulary), read_tagged("train.conll"), 128, label_index)
    tagger = ElectraTokenClassifier(pretrainer.discriminator, num_classes=len(label_index))
    tagger.compile(
        optimizer=layerwise_decay_adamw(tagger, 1e-4, num_layers=12),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100),
    )
    tagger.fit({k: encoded[k] for k in ("token_ids", "segment_ids", "padding_mask")}, encoded["labels"])
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.1, **kwargs):
        inputs = _encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        x = keras.layers.Dropout(dropout, name="head_dropout")(sequence)
        logits = keras.layers.Dense(num_classes, name="head_logits", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.dropout = dropout


class ElectraQuestionAnswerer(keras.Model):
    """Extractive question answering: a start and an end logit for every token.

    The head is one dense layer with two outputs on every token's final
    hidden state, as Hugging Face's `ElectraForQuestionAnswering`
    (`qa_outputs`). Inputs and gold positions come from
    `electra_keras.tasks.formats.squad.make_windows` (`[CLS] question [SEP] context
    [SEP]`, position 0 for "no answer in this window").

    Args:
        encoder: an `ElectraEncoder` (e.g. `pretrainer.discriminator`).

    Example:
    ```python
    windows = make_windows(read_squad("train.json"), make_tokenizer("vocab.txt"), 384)
    reader = ElectraQuestionAnswerer(pretrainer.discriminator)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    reader.compile(optimizer="adam", loss={"start_logits": loss, "end_logits": loss})
    reader.fit({k: windows[k] for k in ("token_ids", "segment_ids", "padding_mask")},
               {"start_logits": windows["start_positions"], "end_logits": windows["end_positions"]})
    ```
    """

    def __init__(self, encoder, **kwargs):
        inputs = _encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        logits = keras.layers.Dense(2, name="qa_outputs", dtype="float32")(sequence)
        outputs = {
            "start_logits": keras.layers.Lambda(lambda x: x[..., 0], name="start_logits")(logits),
            "end_logits": keras.layers.Lambda(lambda x: x[..., 1], name="end_logits")(logits),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
