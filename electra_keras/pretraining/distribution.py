"""`tf.distribute` strategies, and the workarounds they need in Keras 3.

Everything here is TensorFlow-only and a no-op on other backends (JAX
shards with `keras.distribution` and needs none of it):

- `make_strategy` / `task_identity`: the strategy of `training.strategy`,
  and whether this process writes the run.
- `sum_over_replicas`: global sums of the objective's statistics.
- `distinct_dropout_per_replica`: keras-team/keras#20611 (every replica
  drew the same dropout masks).
- `as_multi_worker_logs`: tensorflow/tensorflow#72388 (scalar logs fail to
  reduce across workers).
- `in_multi_worker_mode`: the switch for the above.
"""

import json
import os

import keras

BACKEND = keras.backend.backend()
if BACKEND == "tensorflow":
    import tensorflow as tf


class StrategyError(ValueError):
    """A strategy that cannot be created from the environment."""


def make_strategy(name):
    """The `tf.distribute` strategy for `training.strategy`.

    Call it before any other TensorFlow work: multi-worker collectives must be
    set up at program start.

    - `auto`: `multi_worker` when `TF_CONFIG` names several tasks, `mirrored`
      with several GPUs, else the default strategy.
    - `mirrored`: all local GPUs (or the CPU).
    - `multi_worker`: `MultiWorkerMirroredStrategy`, cluster from `TF_CONFIG`.
    - `tpu`: `TPUStrategy` on the TPU named by `TPU_NAME` (or the local one).

    Example:
    ```python
    strategy = make_strategy("mirrored")
    with strategy.scope():
        pretrainer = electra_keras.ElectraPretrainer(...)
    ```
    """
    if name == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
        if sum(len(tasks) for tasks in cluster.values()) > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise StrategyError("training.strategy=multi_worker needs TF_CONFIG naming the cluster and this task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise StrategyError(f"unknown strategy {name!r}")


def task_identity(strategy):
    """`(is_chief, name)` of this process in a multi-worker cluster.

    The chief is task `chief`, or `worker` 0 when the cluster has no chief;
    single-process strategies are always the chief.

    Example:
    ```python
    is_chief, name = task_identity(make_strategy("auto"))
    ```
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, "chief"
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True, "chief"
    is_chief = task_type == "worker" and task_id == 0 and "chief" not in cluster
    return is_chief, f"{task_type}-{task_id}"


def sum_over_replicas(value):
    """`value` (a tensor or a dict of them) summed over the replicas in sync.

    Outside a multi-replica TensorFlow step it is returned as it is.

    Example:
    ```python
    totals = sum_over_replicas({"mlm_count": count, "disc_count": tokens})
    ```
    """
    if BACKEND != "tensorflow":
        return value
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def in_multi_worker_mode(strategy):
    """Whether `strategy` spans several processes (a multi-worker cluster).

    Example:
    ```python
    if in_multi_worker_mode(model.distribute_strategy):
        logs = as_multi_worker_logs(logs)
    ```
    """
    if BACKEND != "tensorflow" or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return strategy.extended._in_multi_worker_mode()


def as_multi_worker_logs(logs):
    """Logged scalars as one-element vectors (tensorflow/tensorflow#72388).

    Keras reduces logs across workers with a MEAN over axis 0, which a scalar
    does not have ("Invalid reduction dimension"). The values are already
    global, so one-element vectors reduce to themselves.

    Example:
    ```python
    logs = as_multi_worker_logs({"loss": loss})
    ```
    """
    return {name: keras.ops.reshape(value, [1]) for name, value in logs.items()}


def distinct_dropout_per_replica(model):
    """Gives every replica its own dropout masks (keras-team/keras#20611).

    A Keras `SeedGenerator`'s state is one mirrored variable, so under
    `tf.distribute` every replica draws the same dropout masks (checked:
    identical on two replicas). Each generator's draw is folded with the
    replica id; on one device nothing changes. Only TensorFlow has replicas.

    Example:
    ```python
    distinct_dropout_per_replica(pretrainer)  # after every layer is built
    ```
    """
    if BACKEND != "tensorflow":
        return
    for layer in model._flatten_layers():
        for generator in getattr(layer, "_seed_generators", []):
            if not getattr(generator, "_folds_replica_id", False):
                generator.next = _replica_folded(generator.next)
                generator._folds_replica_id = True


def _replica_folded(next_seed):
    def next_per_replica(ordered=True):
        value = next_seed(ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return value
        replica = tf.cast(context.replica_id_in_sync_group, value.dtype)
        return value + tf.stack([replica * 7919, tf.zeros_like(replica)])

    return next_per_replica
