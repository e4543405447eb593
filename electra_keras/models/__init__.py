"""Keras layers and models: the shared embedding, the encoder, the heads.

- `ElectraEmbedding`: word, position and segment embeddings, shared by the
  generator and the discriminator.
- `ElectraEncoder`: the transformer stack (generator or discriminator),
  convertible to and from `keras_hub.models.ElectraBackbone`.
- `ReplacedTokenDetectionHead`, `tied_masked_lm_head`: the pretraining heads.
- `ElectraClassifier`, `ElectraTokenClassifier`, `ElectraQuestionAnswerer`: fine-tuning heads on an
  encoder's token ids.
- `ElectraPretrainingPreprocessor`, `ElectraTextClassifierPreprocessor`:
  keras-hub preprocessors, raw strings to token ids inside `tf.data`.
- `ElectraTextClassifier`: a keras-hub `TextClassifier` task: `fit` and
  `predict` on raw strings, `save_to_preset` / `from_preset`.

Example:
```python
encoder = electra_keras.models.ElectraEncoder(
    vocabulary_size=1000, embedding_dim=64, hidden_dim=64,
    num_layers=2, num_heads=2, intermediate_dim=128,
)
classifier = electra_keras.models.ElectraClassifier(encoder, num_classes=2)
```
"""

from electra_keras.models.embedding import ElectraEmbedding
from electra_keras.models.encoder import ElectraEncoder
from electra_keras.models.heads import ReplacedTokenDetectionHead
from electra_keras.models.heads import tied_masked_lm_head
from electra_keras.models.layer_settings import activation_by_name
from electra_keras.models.layer_settings import truncated_normal
from electra_keras.models.preprocessors import ElectraPretrainingPreprocessor
from electra_keras.models.preprocessors import ElectraTextClassifierPreprocessor
from electra_keras.models.task_heads import ElectraClassifier
from electra_keras.models.task_heads import ElectraQuestionAnswerer
from electra_keras.models.task_heads import ElectraTokenClassifier
from electra_keras.models.text_classifier import ElectraTextClassifier

__all__ = [
    "ElectraClassifier",
    "ElectraEmbedding",
    "ElectraEncoder",
    "ElectraPretrainingPreprocessor",
    "ElectraTextClassifier",
    "ElectraTextClassifierPreprocessor",
    "ElectraQuestionAnswerer",
    "ElectraTokenClassifier",
    "ReplacedTokenDetectionHead",
    "activation_by_name",
    "tied_masked_lm_head",
    "truncated_normal",
]
