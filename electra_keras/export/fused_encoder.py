"""The encoder's forward pass for serving, in as few TensorFlow ops as it takes.

Training builds the encoder from keras-hub layers, whose graph runs about
1,250 ops per request; at batch 1 on a CPU that per-op cost, not the
arithmetic, sets the latency. `FusedEncoder` computes the same function
from the same weights, rearranged at export:

- one projection for query, key and value, laid out head-major so a single
  broadcast batched matmul gives every head's q, k and v, with the
  attention scale folded into the query's weights; each head's share of
  the output projection is applied and the heads summed, so no transpose
  runs (oneDNN's took ~60 us each on a short request);
- the token stream kept `[tokens, hidden]` between layers, so each
  feed-forward layer is one MatMul with its bias and GELU fused in by
  Grappler's remapper;
- the padding mask turned into an additive bias once per call, not per layer;
- LayerNorm and softmax in plain elementwise ops, which beat the oneDNN
  kernels they would otherwise become on a request's few tokens.

The small discriminator's model runs about 660 ops instead of about 1,250
(`benchmarks/serving_latency.py` counts them). The weights are copied into
variables of their own when the module is built;
`tests/export/test_fused_serving.py` checks the outputs equal the Keras
model's within float tolerance.
"""

import numpy as np
import tensorflow as tf

LAYER_NORM_EPSILON = 1e-12
# Added to the scores of padding keys: softmax gives them exactly zero weight in float32.
MASKED_SCORE = -1e9


def _variable(value):
    """A float32 copy of `value` (a Keras variable or an array) as a variable of its own."""
    return tf.Variable(_numpy(value), trainable=False)


def _numpy(variable):
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


class FusedEncoder(tf.Module):
    """An `ElectraEncoder` (and optionally its replaced-token head) as a fused serving graph.

    Args:
        encoder: a built float32 `electra_keras.ElectraEncoder`; its weights
            are copied (later training does not change this module).
        head: optional `ReplacedTokenDetectionHead`, whose per-token logits
            the call then returns too.

    `forward(token_ids, segment_ids, padding_mask)` (int32 `[batch, length]`)
    returns float32 `sequence_output` `[batch, length, hidden]`,
    `pooled_output` `[batch, hidden]` (when the encoder has a pooler) and
    `logits` `[batch, length]` (with a head). It is one graph function that
    every signature and length bucket of an export calls, kept out of line
    (`_noinline`) so the graph holds calls, not a copy of the model per call
    site. The weights are this module's own variables, rearranged from the
    encoder's.

    Example:
    ```python
    fused = FusedEncoder(pretrainer.discriminator, pretrainer.discriminator_head)
    outputs = fused.forward(token_ids, segment_ids, padding_mask)
    outputs["logits"].shape  # [batch, length]
    ```
    """

    def __init__(self, encoder, head=None):
        super().__init__(name="fused_encoder")
        if not self.supports(encoder):
            raise ValueError(
                f"FusedEncoder needs a float32 ElectraEncoder with gelu; got {type(encoder).__name__} "
                f"computing in {getattr(encoder, 'compute_dtype', '?')}"
            )
        self.num_heads = int(encoder.num_heads)
        self.hidden_dim = int(encoder.hidden_dim)
        self.head_dim = self.hidden_dim // self.num_heads
        self.activation = encoder.activation
        embedding = encoder.embedding
        # The weights are variables of this module, not graph constants: the model server specialises a function
        # per call site, and constants would be copied into every specialisation (the small model's server grew
        # by 1.3 GB).
        self.word_embeddings = _variable(embedding.token_embedding.embeddings)
        self.position_embeddings = _variable(embedding.position_embedding.position_embeddings)
        self.segment_embeddings = _variable(embedding.segment_embedding.embeddings)
        self.embedding_norm = self._layer_norm(embedding.layer_norm)
        projection = encoder.embeddings_projection
        self.projection = self._dense(projection) if projection is not None else None
        self.layers = [self._transformer_layer(layer) for layer in encoder.transformer_layers]
        self.pooler = self._dense(encoder.pooled_dense) if encoder.pooled_dense is not None else None
        self.head = None
        if head is not None:
            self.head = {
                "dense": self._dense(head.dense),
                "activation": head.activation,
                "logits": self._dense(head.logits_dense),
            }
        ids = tf.TensorSpec([None, None], tf.int32)
        # Traced once, here: a tf.function would be traced again when saved.
        self.forward = tf.function(
            self.__call__, input_signature=[ids] * 3, experimental_attributes={"_noinline": True}
        ).get_concrete_function()

    @staticmethod
    def supports(encoder):
        """Whether `encoder` is an `ElectraEncoder` this module computes exactly (float32, post-LN, gelu).

        Example:
        ```python
        FusedEncoder.supports(pretrainer.discriminator)  # True in float32
        ```
        """
        from electra_keras.models.encoder import ElectraEncoder

        return (
            isinstance(encoder, ElectraEncoder)
            and encoder.compute_dtype == "float32"
            and encoder.activation in ("gelu_approximate", "gelu")
            and all(not layer.normalize_first for layer in encoder.transformer_layers)
        )

    def _dense(self, layer):
        return (_variable(layer.kernel), _variable(layer.bias))

    def _layer_norm(self, layer):
        return (_variable(layer.gamma), _variable(layer.beta))

    def _transformer_layer(self, layer):
        attention = layer._self_attention_layer
        hidden = self.hidden_dim
        scale = np.float32(1.0 / np.sqrt(self.head_dim))

        def kernel(dense, factor=1.0):
            return _numpy(dense.kernel).reshape(hidden, hidden) * factor

        def bias(dense, factor=1.0):
            return _numpy(dense.bias).reshape(hidden) * factor

        query, key, value = attention._query_dense, attention._key_dense, attention._value_dense
        heads, head_dim = self.num_heads, self.head_dim
        # Columns: query (pre-scaled), key, value; then head-major, `[1, 3 * heads, hidden, head_dim]`, so one
        # broadcast batched matmul of `[batch, 1, length, hidden]` tokens gives every head's q, k and v.
        qkv_kernel = np.concatenate([kernel(query, scale), kernel(key), kernel(value)], axis=1)
        qkv_bias = np.concatenate([bias(query, scale), bias(key), bias(value)])
        return {
            "qkv": (
                _variable(qkv_kernel.reshape(hidden, 3 * heads, head_dim).transpose(1, 0, 2)[None]),
                _variable(qkv_bias.reshape(1, 3 * heads, 1, head_dim)),
            ),
            # `[1, heads, head_dim, hidden]`: each head's share of the output projection, summed over heads.
            "output": (
                _variable(_numpy(attention._output_dense.kernel).reshape(heads, head_dim, hidden)[None]),
                _variable(attention._output_dense.bias),
            ),
            "attention_norm": self._layer_norm(layer._self_attention_layer_norm),
            "intermediate": self._dense(layer._feedforward_intermediate_dense),
            "ffn_output": self._dense(layer._feedforward_output_dense),
            "ffn_norm": self._layer_norm(layer._feedforward_layer_norm),
        }

    @staticmethod
    def _normalize(x, norm):
        """LayerNorm over the last axis, in plain elementwise ops.

        Not in the pattern Grappler's remapper fuses into oneDNN's LayerNorm:
        on a request's few tokens that op took 110 us against about 40 for
        these (measured on the small discriminator, 2 CPUs).
        """
        gamma, beta = norm
        centered = x - tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(centered * centered, axis=-1, keepdims=True)
        return centered * (tf.math.rsqrt(variance + LAYER_NORM_EPSILON) * gamma) + beta

    @staticmethod
    def _gelu(x, activation):
        return tf.nn.gelu(x, approximate=activation == "gelu_approximate")

    def __call__(self, token_ids, segment_ids, padding_mask):
        with tf.name_scope("model"):  # names this part in op counts
            return self._outputs(token_ids, segment_ids, padding_mask)

    def _outputs(self, token_ids, segment_ids, padding_mask):
        shape = tf.shape(token_ids)
        batch, length = shape[0], shape[1]
        x = (
            tf.gather(self.word_embeddings, token_ids)
            + self.position_embeddings[:length]
            + tf.gather(self.segment_embeddings, segment_ids)
        )
        x = tf.reshape(x, [-1, x.shape[-1]])
        x = self._normalize(x, self.embedding_norm)
        if self.projection is not None:
            x = tf.nn.bias_add(tf.matmul(x, self.projection[0]), self.projection[1])
        # [batch, 1, 1, length]: one additive bias for every layer and head.
        mask_bias = (1.0 - tf.cast(padding_mask, tf.float32)[:, None, None, :]) * MASKED_SCORE
        tokens_shape = tf.stack([batch, 1, length, self.hidden_dim])
        for layer in self.layers:
            x = self._transformer_block(x, layer, tokens_shape, mask_bias)
        sequence = tf.reshape(x, tf.stack([batch, length, self.hidden_dim]))
        outputs = {"sequence_output": sequence}
        if self.pooler is not None:
            outputs["pooled_output"] = tf.tanh(tf.nn.bias_add(tf.matmul(sequence[:, 0], self.pooler[0]),
                                                              self.pooler[1]))
        if self.head is not None:
            dense_kernel, dense_bias = self.head["dense"]
            logits_kernel, logits_bias = self.head["logits"]
            hidden = self._gelu(tf.nn.bias_add(tf.matmul(x, dense_kernel), dense_bias), self.head["activation"])
            # One output column: a multiply and a sum, cheaper than a oneDNN matmul call.
            logits = tf.reduce_sum(hidden * logits_kernel[:, 0], axis=-1) + logits_bias[0]
            outputs["logits"] = tf.reshape(logits, tf.stack([batch, length]))
        return outputs

    def _transformer_block(self, x, layer, tokens_shape, mask_bias):
        # No transposes: oneDNN's took ~60 us each on a short request. q, k and v come out `[batch, heads, length,
        # head_dim]` from one broadcast matmul, and the heads' outputs are projected and summed.
        qkv_kernel, qkv_bias = layer["qkv"]
        query, key, value = tf.split(tf.matmul(tf.reshape(x, tokens_shape), qkv_kernel) + qkv_bias, 3, axis=1)
        scores = tf.matmul(query, key, transpose_b=True) + mask_bias
        # Softmax in elementwise ops, for the same reason as the LayerNorm.
        exps = tf.exp(scores - tf.reduce_max(scores, axis=-1, keepdims=True))
        context = tf.matmul(exps / tf.reduce_sum(exps, axis=-1, keepdims=True), value)
        output_kernel, output_bias = layer["output"]
        attended = tf.reshape(tf.reduce_sum(tf.matmul(context, output_kernel), axis=1), [-1, self.hidden_dim])
        attended = attended + output_bias
        x = self._normalize(x + attended, layer["attention_norm"])
        intermediate = self._gelu(
            tf.nn.bias_add(tf.matmul(x, layer["intermediate"][0]), layer["intermediate"][1]), self.activation
        )
        ffn = tf.nn.bias_add(tf.matmul(intermediate, layer["ffn_output"][0]), layer["ffn_output"][1])
        return self._normalize(x + ffn, layer["ffn_norm"])
