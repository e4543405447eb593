"""The encoder's forward pass for serving, in as few TensorFlow ops as it takes.

Training builds the encoder from keras-hub layers, whose graph runs about
1,250 ops per request; at batch 1 on a CPU the cost of each op, and of
waking a second thread for ops too small to share, not the arithmetic,
sets the latency. `FusedEncoder` computes the same function from the same
weights, rearranged at export:

- one projection for query, key and value, with the attention scale
  folded into the query's weights; the heads split off and joined back by
  gathering rows, not by transposes (oneDNN's wake a second thread);
- the token stream kept `[tokens, hidden]` between layers, so each
  feed-forward MatMul gets its bias and GELU fused in by Grappler's
  remapper; kernels over 512 KB are cut into pieces (ELECTRA-Small's in
  halves) so that each MatMul fits the L2 cache, which is when TensorFlow
  runs it on one thread: on a request's few tokens, waking the other
  threads costs more than they save;
- the padding mask turned into an additive bias once per call, not per layer;
- LayerNorm and softmax in plain elementwise ops, and the attention's
  token-by-token products in Eigen's batched matmul, which beat the oneDNN
  kernels they would otherwise become on a request's few tokens;
- each kind of layer weight stacked over the layers in one variable, read
  once and unstacked (which shares its buffer): every variable a call reads
  is a handle passed through each conditional and call around the model.

The small discriminator's model runs about 610 ops instead of about 1,250
(`benchmarks/serving_latency.py` counts them), none of which wakes a second
thread on a short request. The weights are copied into
variables of their own when the module is built;
`tests/export/test_fused_serving.py` checks the outputs equal the Keras
model's within float tolerance.
"""

import numpy as np
import tensorflow as tf

LAYER_NORM_EPSILON = 1e-12
# TensorFlow runs a oneDNN MatMul on one thread when its operands and result fit in the core's L2 cache
# (`ExecuteSingleThreadedGemm`), and one thread is much faster on a request's few tokens (it skips waking the
# other threads). The feed-forward kernels are cut into pieces of at most this many bytes so that they do.
FFN_PIECE_BYTES = 512 * 1024
MAX_FFN_PIECES = 4
# Layer weights stored as `[layers * pieces, ...]`: one entry per feed-forward piece.
PIECED_WEIGHTS = ("intermediate_kernel", "intermediate_bias", "ffn_output_kernel")
# Added to the scores of padding keys: softmax gives them exactly zero weight in float32.
MASKED_SCORE = -1e9


def _variable(value):
    """A float32 copy of `value` (a Keras variable or an array) as a variable of its own."""
    return tf.Variable(_numpy(value), trainable=False)


def _activation(encoder):
    """The feed-forward activation's name; keras-hub's `ElectraBackbone` always uses the tanh-approximate gelu."""
    return getattr(encoder, "activation", "gelu_approximate")


def _embedding_layers(encoder):
    """`(token, position, segment, layer norm, projection or None)` embedding layers of an `ElectraEncoder` or a
    keras-hub `ElectraBackbone`."""
    if hasattr(encoder, "embedding"):
        embedding = encoder.embedding
        return (embedding.token_embedding, embedding.position_embedding, embedding.segment_embedding,
                embedding.layer_norm, encoder.embeddings_projection)
    return (encoder.token_embedding, encoder.position_embedding, encoder.segment_embedding,
            encoder.embeddings_layer_norm, getattr(encoder, "embeddings_projection", None))


def _numpy(variable):
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


class FusedEncoder(tf.Module):
    """An `ElectraEncoder` or keras-hub `ElectraBackbone` (and optionally its replaced-token head) as a fused
    serving graph.

    Args:
        encoder: a built float32 `electra_keras.ElectraEncoder` or
            `keras_hub.models.ElectraBackbone`; its weights are copied (later
            training does not change this module).
        head: optional `ReplacedTokenDetectionHead`, whose per-token logits
            the call then returns too.
        ffn_pieces: how many pieces each feed-forward kernel is cut into;
            default `default_ffn_pieces` of the encoder's widths.

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

    def __init__(self, encoder, head=None, ffn_pieces=None):
        super().__init__(name="fused_encoder")
        if not self.supports(encoder):
            raise ValueError(
                f"FusedEncoder needs a float32 ElectraEncoder (or ElectraBackbone) with gelu; got "
                f"{type(encoder).__name__} "
                f"computing in {getattr(encoder, 'compute_dtype', '?')}"
            )
        self.num_heads = int(encoder.num_heads)
        self.hidden_dim = int(encoder.hidden_dim)
        self.head_dim = self.hidden_dim // self.num_heads
        self.activation = _activation(encoder)
        self.ffn_pieces = ffn_pieces or self.default_ffn_pieces(self.hidden_dim, int(encoder.intermediate_dim))
        token, position, segment, norm, projection = _embedding_layers(encoder)
        # The weights are variables of this module, not graph constants: the model server specialises a function
        # per call site, and constants would be copied into every specialisation (the small model's server grew
        # by 1.3 GB).
        self.word_embeddings = _variable(token.embeddings)
        self.position_embeddings = _variable(position.position_embeddings)
        self.segment_embeddings = _variable(segment.embeddings)
        self.embedding_norm = self._layer_norm(norm)
        self.projection = self._dense(projection) if projection is not None else None
        # Each kind of layer weight stacked over the layers, `[layers, ...]`: 12 variables instead of 144. Every
        # variable a call reads is a handle passed through each conditional and function call around it (four
        # cheap ops each, ~600 for separate variables); one read and one unstack, which shares the buffer, give
        # every layer its slice.
        per_layer = [self._transformer_layer(layer) for layer in encoder.transformer_layers]
        self.num_layers = len(per_layer)
        self.layer_weights = {
            name: _variable((np.concatenate if name in PIECED_WEIGHTS else np.stack)([w[name] for w in per_layer]))
            for name in per_layer[0]
        }
        pooler = getattr(encoder, "pooled_dense", None)
        self.pooler = self._dense(pooler) if pooler is not None else None
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
    def default_ffn_pieces(hidden_dim, intermediate_dim):
        """How many pieces each feed-forward kernel is cut into: the fewest of at most `FFN_PIECE_BYTES` each,
        or 1 when that takes more than `MAX_FFN_PIECES` (large models gain from two threads anyway).

        Example:
        ```python
        FusedEncoder.default_ffn_pieces(256, 1024)  # 2: ELECTRA-Small's 1 MB kernels in two halves
        FusedEncoder.default_ffn_pieces(768, 3072)  # 1: ELECTRA-Base's are too large to fit in any case
        ```
        """
        pieces = -(-4 * hidden_dim * intermediate_dim // FFN_PIECE_BYTES)
        if pieces > MAX_FFN_PIECES or intermediate_dim % pieces:
            return 1
        return max(pieces, 1)

    @staticmethod
    def supports(encoder):
        """Whether `encoder` is an `ElectraEncoder` or keras-hub `ElectraBackbone` this module computes exactly
        (float32, post-LN, gelu).

        Example:
        ```python
        FusedEncoder.supports(pretrainer.discriminator)  # True in float32
        ```
        """
        import keras_hub

        from electra_keras.models.encoder import ElectraEncoder

        return (
            isinstance(encoder, (ElectraEncoder, keras_hub.models.ElectraBackbone))
            and encoder.compute_dtype == "float32"
            and _activation(encoder) in ("gelu_approximate", "gelu")
            and all(not layer.normalize_first for layer in encoder.transformer_layers)
        )

    def _dense(self, layer):
        return (_variable(layer.kernel), _variable(layer.bias))

    def _layer_norm(self, layer):
        return (_variable(layer.gamma), _variable(layer.beta))

    def _transformer_layer(self, layer):
        """One layer's weights as arrays, rearranged for `_transformer_block`."""
        attention = layer._self_attention_layer
        hidden = self.hidden_dim
        scale = np.float32(1.0 / np.sqrt(self.head_dim))

        def kernel(dense, factor=1.0):
            return _numpy(dense.kernel).reshape(hidden, hidden) * factor

        def bias(dense, factor=1.0):
            return _numpy(dense.bias).reshape(hidden) * factor

        query, key, value = attention._query_dense, attention._key_dense, attention._value_dense
        # `[hidden, 3 * hidden]`, columns query (the attention scale folded in), key, value, each head by head.
        qkv_kernel = np.concatenate([kernel(query, scale), kernel(key), kernel(value)], axis=1)
        qkv_bias = np.concatenate([bias(query, scale), bias(key), bias(value)])
        attention_norm = layer._self_attention_layer_norm
        ffn_norm = layer._feedforward_layer_norm
        intermediate = layer._feedforward_intermediate_dense
        ffn_output = layer._feedforward_output_dense
        pieces = self.ffn_pieces
        intermediate_kernel = _numpy(intermediate.kernel)
        width = intermediate_kernel.shape[1] // pieces
        return {
            "qkv_kernel": qkv_kernel,
            "qkv_bias": qkv_bias,
            "output_kernel": _numpy(attention._output_dense.kernel).reshape(hidden, hidden),
            "output_bias": _numpy(attention._output_dense.bias),
            "attention_gamma": _numpy(attention_norm.gamma),
            "attention_beta": _numpy(attention_norm.beta),
            # `[pieces, hidden, width]`, `[pieces, width]` and `[pieces, width, hidden]`: the intermediate units
            # in `pieces` groups, each group's outputs projected on their own and the projections summed.
            "intermediate_kernel": intermediate_kernel.reshape(self.hidden_dim, pieces, width).transpose(1, 0, 2),
            "intermediate_bias": _numpy(intermediate.bias).reshape(pieces, width),
            "ffn_output_kernel": _numpy(ffn_output.kernel).reshape(pieces, width, self.hidden_dim),
            "ffn_output_bias": _numpy(ffn_output.bias),
            "ffn_gamma": _numpy(ffn_norm.gamma),
            "ffn_beta": _numpy(ffn_norm.beta),
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
        heads = self._head_layout(batch, length)
        layers = [{} for _ in range(self.num_layers)]
        for name, weight in self.layer_weights.items():
            if name in PIECED_WEIGHTS:
                pieces = tf.unstack(weight, num=self.num_layers * self.ffn_pieces)
                for index, layer in enumerate(layers):
                    layer[name] = pieces[index * self.ffn_pieces:(index + 1) * self.ffn_pieces]
            else:
                for layer, value in zip(layers, tf.unstack(weight, num=self.num_layers)):
                    layer[name] = value
        for layer in layers:
            x = self._transformer_block(x, layer, heads, mask_bias)
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

    def _head_layout(self, batch, length):
        """Shapes and row orders that move the `[tokens, 3 * hidden]` projections to `[batch, 3 * heads, length,
        head_dim]` and the heads' context back, computed once per call for every layer.

        The moves are gathers of rows: oneDNN's transpose wakes a second thread (~27 us at 16 tokens), a gather
        along one axis runs inline (~1 us).
        """
        heads, positions = self.num_heads, tf.range(length)
        return {
            "rows": tf.stack([batch, length * 3 * heads, self.head_dim]),
            # Row `position * 3 heads + head` of each text goes to `head * length + position`.
            "to_heads": tf.reshape(positions[None, :] * (3 * heads) + tf.range(3 * heads)[:, None], [-1]),
            "heads": tf.stack([batch, 3 * heads, length, self.head_dim]),
            "context_rows": tf.stack([batch, heads * length, self.head_dim]),
            "from_heads": tf.reshape(positions[:, None] + tf.range(heads)[None, :] * length, [-1]),
        }

    def _transformer_block(self, x, layer, heads, mask_bias):
        # Every MatMul with a weight is a 2-D `[tokens, in] x [in, out]` with its bias fused: small enough, it runs
        # on one thread, which a batched matmul does not.
        qkv = tf.nn.bias_add(tf.matmul(x, layer["qkv_kernel"]), layer["qkv_bias"])
        qkv = tf.reshape(tf.gather(tf.reshape(qkv, heads["rows"]), heads["to_heads"], axis=1), heads["heads"])
        query, key, value = tf.split(qkv, 3, axis=1)
        # The two products of a request's tokens with each other are tiny; Eigen's BatchMatMulV3 runs them
        # inline, where oneDNN's BatchMatMulV2 always wakes a second thread (~20 us each at 16 tokens).
        scores = tf.raw_ops.BatchMatMulV3(x=query, y=key, Tout=tf.float32, adj_y=True) + mask_bias
        # Softmax in elementwise ops, for the same reason as the LayerNorm (oneDNN's took ~35 us).
        exps = tf.exp(scores - tf.reduce_max(scores, axis=-1, keepdims=True))
        weights = exps / tf.reduce_sum(exps, axis=-1, keepdims=True)
        context = tf.raw_ops.BatchMatMulV3(x=weights, y=value, Tout=tf.float32)
        context = tf.gather(tf.reshape(context, heads["context_rows"]), heads["from_heads"], axis=1)
        attended = tf.nn.bias_add(tf.matmul(tf.reshape(context, [-1, self.hidden_dim]), layer["output_kernel"]),
                                  layer["output_bias"])
        x = self._normalize(x + attended, (layer["attention_gamma"], layer["attention_beta"]))
        summed = x  # the residual, then each piece's share of the feed-forward output
        pieces = zip(layer["intermediate_kernel"], layer["intermediate_bias"], layer["ffn_output_kernel"])
        for index, (kernel, bias, output_kernel) in enumerate(pieces):
            # Bias and GELU fuse into the first MatMul; the output bias into the first piece's projection.
            intermediate = self._gelu(tf.nn.bias_add(tf.matmul(x, kernel), bias), self.activation)
            projected = tf.matmul(intermediate, output_kernel)
            summed = summed + (tf.nn.bias_add(projected, layer["ffn_output_bias"]) if index == 0 else projected)
        return self._normalize(summed, (layer["ffn_gamma"], layer["ffn_beta"]))


class FusedTaskModel(tf.Module):
    """A fine-tuned classifier, tagger or reader with its encoder run as a `FusedEncoder`.

    The head keeps the task model's own layers (a few ops); the encoder's
    weights are copied into the `FusedEncoder`, so an export that serves
    this tracks `resources`, not the task model.

    Args:
        model: an `ElectraTextClassifier`, `ElectraClassifier`,
            `ElectraTokenClassifier` or `ElectraQuestionAnswerer` whose
            encoder `FusedEncoder.supports`.

    Calling it with the model's inputs (int32 `token_ids`, `segment_ids`,
    `padding_mask`) returns what `model(inputs, training=False)` returns,
    within float tolerance.

    Example:
    ```python
    if FusedTaskModel.supports(tagger):
        logits = FusedTaskModel(tagger)(inputs)  # [batch, length, tags]
    ```
    """

    def __init__(self, model):
        super().__init__(name="fused_task_model")
        encoder, self.kind = _task_parts(model)
        if encoder is None or not FusedEncoder.supports(encoder):
            raise ValueError(f"FusedTaskModel cannot run {type(model).__name__}'s encoder; serve the Keras model")
        self.fused = FusedEncoder(encoder)
        self.head_layers = [model.get_layer(name) for name in _TASK_HEADS[self.kind]]

    @staticmethod
    def supports(model):
        """Whether `model` is a task model whose encoder `FusedEncoder` computes exactly.

        Example:
        ```python
        FusedTaskModel.supports(classifier)  # True for a float32 fine-tuned classifier
        ```
        """
        encoder, _ = _task_parts(model)
        return encoder is not None and FusedEncoder.supports(encoder)

    @property
    def resources(self):
        """What an `ExportArchive` must track: the fused encoder and the head layers."""
        return (self.fused, *self.head_layers)

    def __call__(self, inputs):
        with tf.name_scope("model"):  # names this part, head included, in op counts
            return self._outputs(inputs)

    def _outputs(self, inputs):
        sequence = self.fused.forward(
            tf.cast(inputs["token_ids"], tf.int32), tf.cast(inputs["segment_ids"], tf.int32),
            tf.cast(inputs["padding_mask"], tf.int32),
        )["sequence_output"]
        if self.kind == "classifier":
            dense, logits = self.head_layers
            return logits(dense(sequence[:, 0]))
        # Per-token heads on `[tokens, hidden]`: a 2-D MatMul, one thread on a short request.
        shape = tf.shape(sequence)
        per_token = self.head_layers[0](tf.reshape(sequence, [-1, self.fused.hidden_dim]))
        units = per_token.shape[-1]  # static, as the Keras model's: the bucket code builds empty outputs from it
        per_token = tf.reshape(per_token, tf.concat([shape[:2], [units]], axis=0))
        per_token.set_shape([None, None, units])
        if self.kind == "tagger":
            return per_token
        return {"start_logits": per_token[..., 0], "end_logits": per_token[..., 1]}


def serves_fused(fused, length_buckets=None):
    """Whether an export asked for the fused graph (`fused`) can have it: not when its buckets compile with XLA,
    which has no kernels for the oneDNN ops the fused graph becomes.

    Example:
    ```python
    serves_fused(True, LengthBuckets(128, jit_compile=True))  # False
    ```
    """
    return bool(fused) and not getattr(length_buckets, "jit_compile", False)


class KerasTaskModel:
    """A task model served through its Keras layers, with `FusedTaskModel`'s call and `resources`.

    Example:
    ```python
    logits = KerasTaskModel(tagger)(inputs)  # tagger(inputs, training=False)
    ```
    """

    def __init__(self, model):
        self.model = model

    @property
    def resources(self):
        """What an `ExportArchive` must track: the model."""
        return (self.model,)

    def __call__(self, inputs):
        with tf.name_scope("model"):  # names this part in op counts
            return self.model(inputs, training=False)


def serving_task_model(model, fused=True, length_buckets=None):
    """What an export runs a fine-tuned model through: a `FusedTaskModel` where `serves_fused` and
    `FusedTaskModel.supports(model)`, else a `KerasTaskModel`. Both are called with the model's inputs and list
    their `resources`.

    Example:
    ```python
    runner = serving_task_model(classifier, length_buckets=LengthBuckets(128))
    logits = runner(inputs)  # what classifier(inputs, training=False) returns
    ```
    """
    if serves_fused(fused, length_buckets) and FusedTaskModel.supports(model):
        return FusedTaskModel(model)
    return KerasTaskModel(model)


# The head layers each kind of task model applies, in order, by name.
_TASK_HEADS = {"classifier": ("head_dense", "head_logits"), "tagger": ("head_logits",), "reader": ("qa_outputs",)}


def _task_parts(model):
    """`(encoder, kind)` of a task model, or `(None, None)` for a model of another kind."""
    from electra_keras.models.task_heads import ElectraClassifier
    from electra_keras.models.task_heads import ElectraQuestionAnswerer
    from electra_keras.models.task_heads import ElectraTokenClassifier
    from electra_keras.models.text_classifier import ElectraTextClassifier

    if isinstance(model, ElectraTextClassifier):
        return model.backbone, "classifier"
    kinds = {ElectraClassifier: "classifier", ElectraTokenClassifier: "tagger", ElectraQuestionAnswerer: "reader"}
    for model_class, kind in kinds.items():
        if isinstance(model, model_class):
            return model.encoder, kind
    return None, None
