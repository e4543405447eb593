"""Fine-tuning a pretrained discriminator on labelled data.

- `optimization`: layer-wise learning-rate decay (the paper's recipe).
- `metrics`: accuracy, F1, Pearson, Spearman.
- `loop.run_task`: the one fine-tuning loop every task runs through (the
  tasks are the plug-ins of `electra_keras.tasks`).
- `job.run_finetuning`: the command line's job, callable from Python.

The heads are `electra_keras.models.ElectraClassifier` and
`ElectraTokenClassifier`; labelled files are read by
`electra_keras.tasks.formats.labelled_rows`. Both are importable from here too.

Example:
```python
from electra_keras.finetuning import ElectraClassifier, layerwise_decay_adamw

classifier = ElectraClassifier(pretrainer.discriminator, num_classes=2)
classifier.compile(optimizer=layerwise_decay_adamw(classifier, 1e-4, num_layers=12),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
```
"""

from electra_keras.finetuning.metrics import classification_metrics
from electra_keras.finetuning.metrics import regression_metrics
from electra_keras.finetuning.optimization import LayerwiseDecayAdamW
from electra_keras.finetuning.optimization import layer_depth
from electra_keras.finetuning.optimization import layerwise_decay_adamw
from electra_keras.finetuning.optimization import layerwise_multipliers
from electra_keras.models.task_heads import ElectraClassifier
from electra_keras.models.task_heads import ElectraQuestionAnswerer
from electra_keras.models.task_heads import ElectraTokenClassifier
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.labelled_rows import encode_pairs
from electra_keras.tasks.formats.labelled_rows import read_labelled

__all__ = [
    "ElectraClassifier",
    "ElectraQuestionAnswerer",
    "ElectraTokenClassifier",
    "LabelledDataError",
    "LayerwiseDecayAdamW",
    "classification_metrics",
    "encode_pairs",
    "layer_depth",
    "layerwise_decay_adamw",
    "layerwise_multipliers",
    "read_labelled",
    "regression_metrics",
]
