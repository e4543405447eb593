"""Export of the trained discriminator as a versioned TensorFlow SavedModel."""

import os
import pathlib
import shutil
import tempfile

import tensorflow as tf


class _DiscriminatorModule(tf.Module):
    """Holds the discriminator and its head; signatures return float32."""

    def __init__(self, pretrainer):
        super().__init__()
        self.discriminator = pretrainer.discriminator
        self.discriminator_head = pretrainer.discriminator_head
        self.serving_default = tf.function(
            self._serve,
            input_signature=[
                tf.TensorSpec([None, None], tf.int32, name=name)
                for name in ("token_ids", "segment_ids", "padding_mask")
            ],
        )

    def _serve(self, token_ids, segment_ids, padding_mask):
        inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        outputs = self.discriminator(inputs, training=False)
        logits = tf.cast(self.discriminator_head(outputs["sequence_output"]), tf.float32)
        return {
            "replaced_logits": logits,
            "replaced_probability": tf.sigmoid(logits),
            "sequence_output": tf.cast(outputs["sequence_output"], tf.float32),
            "pooled_output": tf.cast(outputs["pooled_output"], tf.float32),
        }


def export_discriminator(pretrainer, export_dir):
    """Writes the discriminator as a SavedModel at `export_dir`, atomically.

    Use a TF Serving layout, `BASE/NAME/VERSION`. The model is written to a
    temporary folder beside `export_dir` and renamed into place, so a reader
    never sees a half-written export; an existing export there is replaced.
    The `serving_default` signature takes int32 `token_ids`, `segment_ids`
    and `padding_mask` `[batch, length]` and returns float32
    `replaced_logits`, `replaced_probability`, `sequence_output` and
    `pooled_output`.

    Example:
    ```python
    electra_keras.export.export_discriminator(pretrainer, "out/export/discriminator/1")
    loaded = tf.saved_model.load("out/export/discriminator/1")
    loaded.signatures["serving_default"](token_ids=ids, segment_ids=seg, padding_mask=mask)
    ```
    """
    export_dir = pathlib.Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=export_dir.parent, prefix=f".{export_dir.name}-"))
    try:
        module = _DiscriminatorModule(pretrainer)
        tf.saved_model.save(
            module, str(staging), signatures={"serving_default": module.serving_default}
        )
        replace_directory(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def replace_directory(source, target):
    """Renames `source` to `target`, replacing what was there.

    Example:
    ```python
    replace_directory("out/.export-tmp", "out/export")
    ```
    """
    source, target = pathlib.Path(source), pathlib.Path(target)
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.rename(target, old)
        os.rename(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(source, target)
