"""`ElectraPretrainer`: the encoder that is kept, its objective, and `fit`.

One algorithm, two thin loops: the objective (`objectives.py`) is written in
`keras.ops` and runs on every Keras backend; `train_step` is a TensorFlow
loop (`tf_step.py`: GradientTape, `tf.distribute`) on the TensorFlow
backend and a stateless JAX loop (`jax_step.py`) on the JAX backend.

(Over 400 lines because `ElectraPretrainer` is one `keras.Model` whose
methods Keras calls: the steps, the objective and the preset format live in
their own modules, and what stays here are thin methods over them.)
"""

import dataclasses

import keras
from keras import ops

from electra_keras.config import ModelConfig
from electra_keras.config import ObjectiveConfig
from electra_keras.models.embedding import ElectraEmbedding
from electra_keras.models.encoder import ElectraEncoder
from electra_keras.pretraining.distribution import as_multi_worker_logs
from electra_keras.pretraining.distribution import distinct_dropout_per_replica
from electra_keras.pretraining.distribution import in_multi_worker_mode
from electra_keras.pretraining.metrics import BatchPairAUC
from electra_keras.pretraining.noise import split_uniform
from electra_keras.pretraining.objectives import build_objective

BACKEND = keras.backend.backend()
INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraPretrainer(keras.Model):
    """ELECTRA pretraining (or its masked-LM baseline) as one Keras model.

    Builds the shared `ElectraEmbedding`, the discriminator `ElectraEncoder`
    (the model kept after pretraining) and the objective that
    `objective_config.kind` names (`electra_keras.pretraining.objectives`):

    - `"electra"` (default): a smaller generator sharing the embedding, a
      masked-LM head tied to the shared token embedding (computed only at the
      masked positions) and a per-token discriminator head; the loss is
      `generator_weight * mlm_loss + discriminator_weight * disc_loss`.
    - `"mlm"`: BERT-style masked language modelling of the encoder itself,
      with the same masks (the official `electra_objective: false`).

    Losses are means over the *global* batch: counts are summed across
    replicas, so a step under `tf.distribute` equals a step on one device.
    Gradients are clipped by their global norm after the cross-replica sum.
    Every replica draws its own masks and Gumbel noise from a stateless seed
    folded from `seed`, the optimizer step and the replica id, so runs are
    reproducible and replicas differ.

    Calling the model on `{"token_ids", "segment_ids", "padding_mask"}` gives
    the discriminator's replaced-token logits (ELECTRA) or the encoder's
    sequence output (MLM).

    With a `preprocessor` (an `ElectraPretrainingPreprocessor`), `fit`,
    `evaluate` and `predict` also take raw strings: a list of them, or a
    `tf.data.Dataset` of string batches such as
    `tf.data.TextLineDataset(path).batch(32)`. The vocabulary size and the
    special token ids then come from its tokenizer, and
    `save_to_preset` / `from_preset` move the whole pretrainer as a keras-hub
    preset folder (`electra_keras.pretraining.presets`).

    Args:
        model_config: `electra_keras.config.ModelConfig` or its dict; its
            `vocabulary_size` must be set unless a preprocessor gives it.
        objective_config: `electra_keras.config.ObjectiveConfig` or its dict
            (default: ELECTRA's).
        mask_token_id: int, id of [MASK] (default: the preprocessor's).
        special_token_ids: list of ints never masked ([PAD], [CLS], [SEP],
            [MASK]; default: the preprocessor's).
        gradient_clip_norm: float or None, global-norm clipping threshold.
        seed: int, seed of the masks and the Gumbel noise.
        gradient_accumulation_steps: int; above 1, each batch is split into
            this many micro-batches run one after another, and their
            gradients are summed before one update. The update equals that of
            the whole batch (losses are divided by the whole batch's counts),
            while activations take the memory of one micro-batch.
        preprocessor: an `ElectraPretrainingPreprocessor`, or None for
            batches that are already token ids.

    Example:
    ```python
    pretrainer = electra_keras.ElectraPretrainer(
        model_config={"vocabulary_size": 1000, "hidden_size": 64, "num_layers": 2,
                      "num_heads": 2, "intermediate_size": 128, "embedding_size": 32},
        objective_config={},  # or {"kind": "mlm"} for the baseline
        mask_token_id=4,
        special_token_ids=[0, 2, 3, 4],
    )
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-3))
    pretrainer.fit(dataset, steps_per_epoch=100)  # dicts of token_ids, segment_ids, padding_mask
    discriminator = pretrainer.discriminator

    # From raw text:
    preprocessor = ElectraPretrainingPreprocessor.from_vocabulary("vocab.txt", sequence_length=64)
    pretrainer = electra_keras.ElectraPretrainer(config.model, preprocessor=preprocessor)
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-3))
    pretrainer.fit(tf.data.TextLineDataset("corpus.txt").batch(32))
    pretrainer.save_to_preset("my_electra")
    ```
    """

    def __init__(
        self,
        model_config,
        objective_config=None,
        mask_token_id=None,
        special_token_ids=None,
        gradient_clip_norm=1.0,
        seed=0,
        gradient_accumulation_steps=1,
        preprocessor=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        model_config = _as_config(ModelConfig, model_config, validate=False)
        objective_config = _as_config(ObjectiveConfig, objective_config or {})
        if preprocessor is not None:
            tokenizer = preprocessor.tokenizer
            if model_config.vocabulary_size is None:
                model_config = dataclasses.replace(model_config, vocabulary_size=tokenizer.vocabulary_size())
            mask_token_id = tokenizer.mask_token_id if mask_token_id is None else mask_token_id
            if special_token_ids is None:
                special_token_ids = preprocessor.special_token_ids
            if preprocessor.sequence_length > model_config.max_position_embeddings:
                # A preprocessor loaded with keras-hub's defaults may be longer.
                preprocessor.sequence_length = model_config.max_position_embeddings
        model_config.validate()
        if mask_token_id is None or special_token_ids is None:
            raise ValueError(
                "ElectraPretrainer needs mask_token_id and special_token_ids, or a preprocessor "
                "(electra_keras.models.ElectraPretrainingPreprocessor) whose tokenizer gives them"
            )
        if int(gradient_accumulation_steps) < 1:
            raise ValueError(
                f"gradient_accumulation_steps must be at least 1, got {gradient_accumulation_steps}"
            )
        if model_config.vocabulary_size is None:
            raise ValueError("model_config.vocabulary_size must be set (the tokenizer's size).")
        if not 0 <= mask_token_id < model_config.vocabulary_size:
            raise ValueError(
                f"mask_token_id {mask_token_id} is outside the vocabulary "
                f"of {model_config.vocabulary_size} tokens"
            )
        m = model_config
        dtype = self.dtype_policy

        # === Layers ===
        self.embedding = ElectraEmbedding(
            vocabulary_size=m.vocabulary_size,
            embedding_dim=m.embedding_size,
            max_sequence_length=m.max_position_embeddings,
            num_segments=m.num_segments,
            dropout=m.dropout,
            initializer_range=m.initializer_range,
            dtype=dtype,
            name="embedding",
        )
        self.discriminator = ElectraEncoder.from_model_config(m, self.embedding, "discriminator", dtype)
        # The pooler is kept for keras-hub and fine-tuning but gets no
        # gradient from the objective (as in the official code): freeze it.
        self.discriminator.pooled_dense.trainable = False
        self.objective = build_objective(m, objective_config, mask_token_id, special_token_ids, self.embedding, dtype)
        self.metric_trackers = {name: keras.metrics.Mean(name=name) for name in self.objective.metric_names}
        # Held-out only: how well p(replaced) ranks replaced above original
        # tokens, whatever the threshold.
        self.auc_tracker = BatchPairAUC(name="disc_auc") if self.objective.reports_auc else None
        if BACKEND == "jax":
            # JAX's masks and samples: a SeedGenerator whose state is a
            # non-trainable variable the stateless step carries. TensorFlow
            # steps fold theirs from the optimizer step (`tf_step.step_seed`).
            self.noise_seed_generator = keras.random.SeedGenerator(int(seed), name="noise_seeds")
        self.preprocessor = preprocessor
        self.built = True
        distinct_dropout_per_replica(self)

        # === Config ===
        self.model_config = model_config
        self.objective_config = objective_config
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted(int(i) for i in special_token_ids)
        self.gradient_clip_norm = gradient_clip_norm
        self.seed = int(seed)
        self.gradient_accumulation_steps = int(gradient_accumulation_steps)

    # --- The ELECTRA objective's layers, by their paper names ---------------

    @property
    def generator(self):
        return self._electra_layer("generator")

    @property
    def generator_head(self):
        return self._electra_layer("generator_head")

    @property
    def discriminator_head(self):
        return self._electra_layer("discriminator_head")

    def _electra_layer(self, name):
        if not hasattr(self.objective, name):
            raise AttributeError(
                f"the {self.objective_config.kind!r} objective has no {name}; only objective.kind 'electra' does"
            )
        return getattr(self.objective, name)

    # --- Inference -------------------------------------------------------

    def call(self, inputs, training=False):
        if self.objective.reports_auc:
            return self.objective.logits(self.discriminator, inputs, training=training)
        return self.discriminator(inputs, training=training)["sequence_output"]

    # --- The objective -------------------------------------------------------

    def compute_objective(self, inputs, noise, training=False, denominators=None):
        """Runs the objective on `inputs` with fixed `noise` (see `ElectraObjective.compute`).

        Example:
        ```python
        noise = pretrainer.draw_noise(seed, batch_size=8, sequence_length=128, max_predictions=19)
        results = pretrainer.compute_objective(batch, noise)
        results["loss"], results["corrupted_ids"]
        ```
        """
        return self.objective.compute(self.discriminator, inputs, noise, training=training, denominators=denominators)

    def draw_noise(self, seed, batch_size, sequence_length, max_predictions):
        """The uniform noise of one step from a stateless seed.

        The seed is a `[2]` int64 tensor on TensorFlow and a `[2]` uint32 JAX
        key on JAX; it is split three ways, one stream per use (`select`,
        `mask`, `gumbel`).
        """
        return split_uniform(seed, self.objective.noise_shapes(batch_size, sequence_length, max_predictions))

    def noise_dimensions(self, inputs):
        """`(sequence_length, max_predictions)` of a batch; the length must be static."""
        sequence_length = inputs["token_ids"].shape[1]
        if sequence_length is None:
            raise ValueError(
                "ElectraPretrainer needs a static sequence length; batch the "
                "dataset with drop_remainder or pad to a fixed length."
            )
        return sequence_length, self.objective_config.resolved_max_predictions(sequence_length)

    def noise_for(self, inputs, seed):
        """The noise for `inputs` drawn from `seed`."""
        sequence_length, max_predictions = self.noise_dimensions(inputs)
        return self.draw_noise(seed, ops.shape(inputs["token_ids"])[0], sequence_length, max_predictions)

    def evaluation_noise(self, inputs):
        """The masks and noise `test_step` uses: a function of the data only,
        so that evaluations at different checkpoints score the same corruption."""
        return self._loop().evaluation_noise(self, inputs)

    def compute_gradients(self, inputs, seed=None, noise=None, training=True):
        """This replica's gradients; see `electra_keras.pretraining.tf_step.compute_gradients`."""
        from electra_keras.pretraining import tf_step

        return tf_step.compute_gradients(self, inputs, seed=seed, noise=noise, training=training)

    # --- Raw strings, through the preprocessor ------------------------------

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        """`keras.Model.fit`, taking raw strings too when there is a preprocessor.

        Strings (a list, or a `tf.data.Dataset` of string batches) are
        tokenized and packed by the preprocessor inside `tf.data`; a list is
        shuffled each epoch unless `shuffle=False`.
        """
        shuffle = kwargs.pop("shuffle", True)
        if _contains_strings(x):
            x, batch_size, shuffle = self._text_batches(x, batch_size, shuffle), None, False
        if validation_data is not None and _contains_strings(validation_data):
            validation_data = self._text_batches(validation_data, batch_size or 32, shuffle=False)
        return super().fit(x, y, batch_size=batch_size, validation_data=validation_data, shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate`, taking raw strings too (see `fit`)."""
        if _contains_strings(x):
            x, batch_size = self._text_batches(x, batch_size, shuffle=False), None
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`, taking raw strings too: per-token logits of
        the discriminator (ELECTRA) or the encoder's states (MLM)."""
        if _contains_strings(x):
            x, batch_size = self._text_batches(x, batch_size, shuffle=False), None
        return super().predict(x, batch_size=batch_size, **kwargs)

    def _text_batches(self, x, batch_size, shuffle):
        import tensorflow as tf

        if self.preprocessor is None:
            raise ValueError(
                "ElectraPretrainer got raw strings but has no preprocessor; build it with "
                "preprocessor=ElectraPretrainingPreprocessor(...) or pass token id batches"
            )
        if isinstance(x, tf.data.Dataset):
            if batch_size is not None:
                raise ValueError("a tf.data.Dataset is batched already; do not pass batch_size")
            dataset = x
        else:
            from electra_keras.data.tf_pipeline import in_memory_batches

            # Accumulation splits every batch into equal micro-batches.
            dataset = in_memory_batches(list(x) if not isinstance(x, tuple) else x, batch_size or 32, shuffle,
                                        drop_remainder=self.gradient_accumulation_steps > 1)
        return dataset.map(self.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    # --- Presets --------------------------------------------------------------

    def save_to_preset(self, preset_dir, preprocessor=None):
        """Writes a keras-hub preset folder (see `electra_keras.pretraining.presets`).

        `keras_hub.models.ElectraBackbone.from_preset(preset_dir)` then loads
        the discriminator, and `ElectraPretrainer.from_preset` the whole
        pretrainer.

        Example:
        ```python
        pretrainer.save_to_preset("presets/my_electra")
        ```
        """
        from electra_keras.pretraining import presets

        return presets.save_preset(self, preset_dir, preprocessor)

    @classmethod
    def from_preset(cls, preset_dir, generator_size_fraction=0.25, **kwargs):
        """A pretrainer from a preset folder: one `save_to_preset` wrote (all
        of it), or a keras-hub ELECTRA preset (its discriminator, with a fresh
        generator of `generator_size_fraction`).

        Example:
        ```python
        pretrainer = electra_keras.ElectraPretrainer.from_preset("presets/my_electra")
        ```
        """
        from electra_keras.pretraining import presets

        return presets.load_preset(cls, preset_dir, generator_size_fraction, **kwargs)

    # --- Keras training loop -----------------------------------------------

    def train_step(self, *args):
        # Keras calls `train_step(data)` on TensorFlow and the stateless
        # `train_step(state, data)` on JAX.
        loop = self._loop()
        if BACKEND == "jax":
            return loop.train_step(self, *args)
        (data,) = args
        return loop.train_step(self, self.unpack(data))

    def test_step(self, *args):
        if BACKEND == "jax":
            return self._loop().test_step(self, *args)
        (data,) = args
        inputs = self.unpack(data)
        results = self.compute_objective(inputs, self.evaluation_noise(inputs), training=False)
        return self.evaluation_logs(inputs, results)

    def evaluation_logs(self, inputs, results):
        """Updates the held-out metrics (and the AUC) with one batch's results."""
        logs = self.update_metrics(results["metrics"])
        if self.auc_tracker is not None:
            logits = ops.reshape(ops.cast(results["discriminator_logits"], "float32"), ops.shape(results["labels"]))
            self.auc_tracker.update_state(results["labels"], logits, ops.cast(inputs["padding_mask"], "float32"))
            auc = self.auc_tracker.result()
            logs["disc_auc"] = ops.reshape(auc, [1]) if self._multi_worker() else auc
        return logs

    def update_metrics(self, values):
        """Feeds the global metric values to their trackers; returns the logs."""
        for name, tracker in self.metric_trackers.items():
            tracker.update_state(values[name])
        results = {name: tracker.result() for name, tracker in self.metric_trackers.items()}
        return as_multi_worker_logs(results) if self._multi_worker() else results

    def unpack(self, data):
        """The `token_ids`, `segment_ids` and `padding_mask` of a batch."""
        if isinstance(data, (tuple, list)):
            data = data[0]
        missing = set(INPUT_KEYS) - set(data)
        if missing:
            raise ValueError(
                f"ElectraPretrainer expects dict batches with token_ids, segment_ids "
                f"and padding_mask; missing {sorted(missing)}"
            )
        return {key: data[key] for key in INPUT_KEYS}

    def _loop(self):
        if BACKEND == "jax":
            from electra_keras.pretraining import jax_step

            return jax_step
        if BACKEND == "tensorflow":
            from electra_keras.pretraining import tf_step

            return tf_step
        raise NotImplementedError(
            f"ElectraPretrainer trains on the tensorflow and jax backends, not {BACKEND}; "
            "compute_objective runs on every backend"
        )

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras pulls a batch and reduces it across replicas to learn input
        # shapes; MultiWorkerMirroredStrategy cannot reduce a dict batch
        # (keras-team/keras#20329). Every layer here is built in __init__,
        # so only the optimizer may be left to build.
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        auc = [self.auc_tracker] if self.auc_tracker is not None else []
        return [*self.metric_trackers.values(), *auc]

    def _multi_worker(self):
        # Only TensorFlow models have a distribute_strategy.
        return BACKEND == "tensorflow" and in_multi_worker_mode(self.distribute_strategy)

    # --- Serialization -----------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model_config": dataclasses.asdict(self.model_config),
                "objective_config": dataclasses.asdict(self.objective_config),
                "mask_token_id": self.mask_token_id,
                "special_token_ids": self.special_token_ids,
                "gradient_clip_norm": self.gradient_clip_norm,
                "seed": self.seed,
                "gradient_accumulation_steps": self.gradient_accumulation_steps,
            }
        )
        if self.preprocessor is not None:
            config["preprocessor"] = keras.layers.serialize(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        if isinstance(config.get("preprocessor"), dict):
            config["preprocessor"] = keras.layers.deserialize(config["preprocessor"])
        return cls(**config)


def build_pretrainer(config, tokenizer):
    """The `ElectraPretrainer` of an `ElectraConfig`, sized to the tokenizer.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
    pretrainer = build_pretrainer(config, electra_keras.data.make_tokenizer("vocab.txt"))
    ```
    """
    from electra_keras.data.tokenizer import never_masked_ids

    model_config = dataclasses.replace(config.model, vocabulary_size=tokenizer.vocabulary_size())
    return ElectraPretrainer(
        model_config=model_config,
        objective_config=config.objective,
        mask_token_id=tokenizer.mask_token_id,
        special_token_ids=never_masked_ids(tokenizer),
        gradient_clip_norm=config.optimizer.clip_norm,
        seed=config.training.seed,
        gradient_accumulation_steps=config.training.gradient_accumulation_steps,
        dtype=config.training.precision,
    )


def MaskedLMPretrainer(model_config, objective_config, mask_token_id, special_token_ids, **kwargs):  # noqa: N802
    """The masked-LM baseline: an `ElectraPretrainer` with `objective.kind: mlm`.

    Kept under its earlier name; `objective_config={"kind": "mlm"}` is the
    same.

    Example:
    ```python
    baseline = electra_keras.MaskedLMPretrainer(model_config, {}, mask_token_id=4,
                                               special_token_ids=[0, 2, 3, 4])
    baseline.objective_config.kind  # "mlm"
    ```
    """
    objective_config = dataclasses.replace(_as_config(ObjectiveConfig, objective_config), kind="mlm")
    return ElectraPretrainer(model_config, objective_config, mask_token_id, special_token_ids, **kwargs)


def _as_config(config_class, value, validate=True):
    if isinstance(value, config_class):
        config = value
    elif isinstance(value, dict):
        config = config_class(**value)
    else:
        raise TypeError(f"expected {config_class.__name__} or dict, got {type(value).__name__}")
    if validate:
        config.validate()
    return config


def _contains_strings(x):
    if isinstance(x, str):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains_strings(item) for item in x[:1])
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        return getattr(dtype, "kind", None) in ("U", "S", "O") or str(dtype) == "<dtype: 'string'>"
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        return any(str(getattr(s, "dtype", "")) == "<dtype: 'string'>" for s in _flatten(spec))
    return False


def _flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in _flatten(item)]
    return [structure]
