"""The embedding block the generator and the discriminator share."""

import keras
from keras_hub.layers import PositionEmbedding

from electra_keras.models.layer_settings import truncated_normal


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraEmbedding(keras.layers.Layer):
    """Token, position and segment embeddings, summed, normalised, dropped out.

    One instance is shared by the generator and the discriminator.

    Args:
        vocabulary_size: int, number of WordPiece tokens.
        embedding_dim: int, width of the embeddings.
        max_sequence_length: int, size of the position table.
        num_segments: int, number of segment (token type) ids.
        dropout: float, dropout after the LayerNorm.
        initializer_range: float, stddev of the truncated-normal initializer.

    Example:
    ```python
    embedding = electra_keras.models.ElectraEmbedding(vocabulary_size=1000, embedding_dim=64)
    x = embedding(np.ones((2, 8), "int32"), np.zeros((2, 8), "int32"))
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=embedding_dim,
            embeddings_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=embedding_dim,
            embeddings_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="segment_embedding",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=1e-12, dtype=self.dtype_policy, name="layer_norm"
        )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.initializer_range = initializer_range

    def build(self, token_ids_shape, segment_ids_shape=None):
        embedded_shape = tuple(token_ids_shape) + (self.embedding_dim,)
        self.token_embedding.build(token_ids_shape)
        self.position_embedding.build(embedded_shape)
        self.segment_embedding.build(token_ids_shape)
        self.layer_norm.build(embedded_shape)
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        tokens = self.token_embedding(token_ids)
        x = tokens + self.position_embedding(tokens) + self.segment_embedding(segment_ids)
        x = self.layer_norm(x)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config
