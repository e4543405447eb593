"""`ElectraEncoder`: a BERT-style encoder from keras-hub layers.

The discriminator and the generator are two `ElectraEncoder`s that call the
same `ElectraEmbedding` layer (word, position and segment embeddings and the
embedding LayerNorm: the official `untied_generator_embeddings=False`). Each
encoder has its own projection from embedding width to hidden width.

The discriminator's weights map one to one onto
`keras_hub.models.ElectraBackbone` (`to_keras_hub_backbone`).
"""

import keras
import keras_hub
from keras_hub.layers import TransformerEncoder

from electra_keras.models.embedding import ElectraEmbedding
from electra_keras.models.layer_settings import activation_by_name
from electra_keras.models.layer_settings import truncated_normal


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraEncoder(keras.Model):
    """A BERT-style ELECTRA encoder: embeddings, projection, transformer stack.

    Pass `embedding` to share an `ElectraEmbedding` with another encoder (the
    generator shares the discriminator's). With `use_pooler`, a tanh Dense on
    the first token gives `pooled_output`, as in `keras_hub.models.ElectraBackbone`.

    Args:
        embedding: `ElectraEmbedding` to use (and share), or None for a new one
            built from `vocabulary_size` and `embedding_dim`.
        vocabulary_size: int, used when `embedding` is None.
        embedding_dim: int, used when `embedding` is None.
        hidden_dim: int, width of the transformer layers.
        num_layers: int, number of transformer layers.
        num_heads: int, attention heads per layer.
        intermediate_dim: int, width of the feed-forward layers.
        dropout: float, dropout in the transformer layers and embeddings.
        activation: "gelu_approximate" or "gelu".
        max_sequence_length: int, position table size for a new embedding.
        use_pooler: bool, add the `pooled_output` head.
        initializer_range: float, stddev of the truncated-normal initializer.

    Example:
    ```python
    encoder = electra_keras.ElectraEncoder(
        vocabulary_size=1000, embedding_dim=64, hidden_dim=64,
        num_layers=2, num_heads=2, intermediate_dim=128,
    )
    outputs = encoder({
        "token_ids": np.ones((1, 8), "int32"),
        "segment_ids": np.zeros((1, 8), "int32"),
        "padding_mask": np.ones((1, 8), "int32"),
    })
    outputs["sequence_output"].shape  # (1, 8, 64)
    ```
    """

    def __init__(
        self,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        embedding=None,
        vocabulary_size=None,
        embedding_dim=None,
        dropout=0.1,
        activation="gelu_approximate",
        max_sequence_length=512,
        num_segments=2,
        use_pooler=True,
        initializer_range=0.02,
        dtype=None,
        **kwargs,
    ):
        # === Layers ===
        if embedding is None:
            embedding = ElectraEmbedding(
                vocabulary_size=vocabulary_size,
                embedding_dim=embedding_dim,
                max_sequence_length=max_sequence_length,
                num_segments=num_segments,
                dropout=dropout,
                initializer_range=initializer_range,
                dtype=dtype,
                name="embedding",
            )
        self.embedding = embedding
        self.embeddings_projection = None
        if hidden_dim != embedding.embedding_dim:
            self.embeddings_projection = keras.layers.Dense(
                hidden_dim,
                kernel_initializer=truncated_normal(initializer_range),
                dtype=dtype,
                name="embeddings_projection",
            )
        self.transformer_layers = [
            TransformerEncoder(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                activation=activation_by_name(activation),
                dropout=dropout,
                layer_norm_epsilon=1e-12,
                kernel_initializer=truncated_normal(initializer_range),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = None
        if use_pooler:
            self.pooled_dense = keras.layers.Dense(
                hidden_dim,
                activation="tanh",
                kernel_initializer=truncated_normal(initializer_range),
                dtype=dtype,
                name="pooled_dense",
            )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = embedding(token_ids, segment_ids)
        if self.embeddings_projection is not None:
            x = self.embeddings_projection(x)
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=padding_mask)
        outputs = {"sequence_output": x}
        if self.pooled_dense is not None:
            outputs["pooled_output"] = self.pooled_dense(x[:, 0, :])
        super().__init__(
            inputs={"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = embedding.vocabulary_size
        self.embedding_dim = embedding.embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.max_sequence_length = embedding.max_sequence_length
        self.num_segments = embedding.num_segments
        self.use_pooler = use_pooler
        self.initializer_range = initializer_range

    @classmethod
    def from_model_config(cls, model_config, embedding, part="discriminator", dtype=None):
        """The discriminator or the generator of a `ModelConfig`, on a shared `embedding`.

        The generator has the config's generator sizes and no pooler; the
        discriminator keeps keras-hub's pooler.

        Example:
        ```python
        generator = ElectraEncoder.from_model_config(config.model, embedding, part="generator")
        ```
        """
        m = model_config
        generator = part == "generator"
        return cls(
            embedding=embedding,
            hidden_dim=m.generator_hidden_size if generator else m.hidden_size,
            num_layers=m.generator_num_layers if generator else m.num_layers,
            num_heads=m.generator_num_heads if generator else m.num_heads,
            intermediate_dim=m.generator_intermediate_size if generator else m.intermediate_size,
            dropout=m.dropout,
            activation=m.hidden_activation,
            initializer_range=m.initializer_range,
            use_pooler=not generator,
            dtype=dtype,
            name=part,
        )

    def __setattr__(self, name, value):
        # On the torch backend a Keras model is a torch Module, which refuses
        # attributes before Module.__init__; the functional graph tracks
        # every layer anyway, so set them plainly until then (as keras-hub's
        # Backbone does).
        if keras.config.backend() == "torch" and not hasattr(self, "_initialized"):
            return object.__setattr__(self, name, value)
        return super().__setattr__(name, value)

    def get_config(self):
        # A reloaded encoder owns its embedding; the pretrainer re-ties them.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": self.activation,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
            "use_pooler": self.use_pooler,
            "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @property
    def keras_hub_compatible(self):
        """Whether `keras_hub.models.ElectraBackbone` holds this encoder exactly."""
        return self.activation == "gelu_approximate" and self.pooled_dense is not None

    def to_keras_hub_backbone(self):
        """Returns a `keras_hub.models.ElectraBackbone` with these weights.

        Only the tanh-approximate gelu (keras-hub's) converts exactly.

        Example:
        ```python
        backbone = pretrainer.discriminator.to_keras_hub_backbone()
        backbone.save_to_preset("./my_electra_preset")
        ```
        """
        if self.activation != "gelu_approximate":
            raise ValueError(
                "keras_hub.models.ElectraBackbone always uses the tanh-approximate "
                f"gelu; this encoder uses {self.activation!r}, so its outputs "
                "would differ. Convert only encoders with activation='gelu_approximate'."
            )
        if self.pooled_dense is None:
            raise ValueError("ElectraBackbone has a pooler; build the encoder with use_pooler=True.")
        backbone = keras_hub.models.ElectraBackbone(
            vocab_size=self.vocabulary_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            embedding_dim=self.embedding_dim,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            max_sequence_length=self.max_sequence_length,
            num_segments=self.num_segments,
        )
        for target, source in self._keras_hub_pairs(backbone):
            target.set_weights(source.get_weights())
        return backbone

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """Writes this encoder as a keras-hub preset's backbone.

        With keras-hub's activation (the tanh-approximate gelu) and a pooler
        it is written as a `keras_hub.models.ElectraBackbone`, which keras-hub
        loads without this package; otherwise (exact gelu, which keras-hub's
        ELECTRA cannot represent) as this class, which `from_preset` and
        keras-hub's task loaders read once `electra_keras` is imported. Add a
        tokenizer (`tokenizer.save_to_preset(preset_dir)`) for keras-hub's
        tasks; `ElectraPretrainer.save_to_preset` writes both.

        Example:
        ```python
        pretrainer.discriminator.save_to_preset("presets/discriminator")
        backbone = keras_hub.models.ElectraBackbone.from_preset("presets/discriminator")
        ```
        """
        if self.keras_hub_compatible:
            self.to_keras_hub_backbone().save_to_preset(str(preset_dir), max_shard_size=max_shard_size)
            return
        from keras_hub.src.utils.preset_utils import get_preset_saver

        get_preset_saver(str(preset_dir)).save_backbone(self, max_shard_size=max_shard_size)

    @classmethod
    def from_preset(cls, preset_dir, **kwargs):
        """An encoder from a preset: keras-hub's `ElectraBackbone`, or this class.

        Example:
        ```python
        encoder = ElectraEncoder.from_preset("presets/discriminator")
        ```
        """
        from keras_hub.src.utils.preset_utils import get_preset_loader

        loader = get_preset_loader(str(preset_dir))
        if issubclass(loader.check_backbone_class(), cls):
            return loader.load_backbone(cls, load_weights=True, **kwargs)
        return cls.from_keras_hub_backbone(keras_hub.models.ElectraBackbone.from_preset(str(preset_dir)), **kwargs)

    @classmethod
    def from_keras_hub_backbone(cls, backbone, **kwargs):
        """An encoder with the sizes and weights of a `keras_hub.models.ElectraBackbone`.

        Example:
        ```python
        encoder = ElectraEncoder.from_keras_hub_backbone(classifier.backbone)
        ```
        """
        config = backbone.get_config()
        encoder = cls(
            vocabulary_size=config["vocab_size"], embedding_dim=config["embedding_dim"],
            hidden_dim=config["hidden_dim"], num_layers=config["num_layers"], num_heads=config["num_heads"],
            intermediate_dim=config["intermediate_dim"], dropout=config["dropout"],
            max_sequence_length=config["max_sequence_length"], num_segments=config["num_segments"], **kwargs,
        )
        encoder.load_keras_hub_backbone(backbone)
        return encoder

    def load_keras_hub_backbone(self, backbone):
        """Copies a `keras_hub.models.ElectraBackbone`'s weights into this encoder.

        Example:
        ```python
        backbone = keras_hub.models.ElectraBackbone.from_preset("./electra_preset")
        pretrainer.discriminator.load_keras_hub_backbone(backbone)
        ```
        """
        for source, target in self._keras_hub_pairs(backbone):
            for variable, value in zip(target.weights, source.get_weights()):
                if tuple(variable.shape) != value.shape:
                    raise ValueError(
                        f"keras-hub backbone weight {source.name} has shape {value.shape}, "
                        f"this encoder's {variable.path} needs {tuple(variable.shape)}"
                    )
            target.set_weights(source.get_weights())

    def _keras_hub_pairs(self, backbone):
        pairs = [
            (backbone.token_embedding, self.embedding.token_embedding),
            (backbone.position_embedding, self.embedding.position_embedding),
            (backbone.segment_embedding, self.embedding.segment_embedding),
            (backbone.embeddings_layer_norm, self.embedding.layer_norm),
            (backbone.pooled_dense, self.pooled_dense),
        ]
        if self.embeddings_projection is not None:
            pairs.append((backbone.embeddings_projection, self.embeddings_projection))
        return pairs + list(zip(backbone.transformer_layers, self.transformer_layers))
