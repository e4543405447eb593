"""electra_keras: ELECTRA pretraining for Keras 3 (TensorFlow; JAX too).

The sub-packages are the architecture (docs/ARCHITECTURE.md): `data` (text
to batches), `models` (layers), `pretraining` (objectives, the pretrainer,
its training steps and job), `runs` (the run folder, checkpoints,
callbacks), `interop` (Hugging Face, keras-hub, official checkpoints),
`export` (SavedModels for TF Serving), `tasks` (labelled formats and the
fine-tuning tasks), `finetuning`, and `cli`.

Importing the package registers its Keras classes, so saved `.keras` files
load with `keras.models.load_model` after `import electra_keras`; it does not
import TensorFlow, so the JAX backend works on machines without it.

Example:
```python
import electra_keras

config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
pretrainer = electra_keras.ElectraPretrainer(
    {**vars(config.model), "vocabulary_size": 8000}, config.objective,
    mask_token_id=4, special_token_ids=[0, 2, 3, 4],
)
```
"""

from electra_keras.config import ElectraConfig
from electra_keras.models import ElectraClassifier
from electra_keras.models import ElectraEmbedding
from electra_keras.models import ElectraEncoder
from electra_keras.models import ElectraPretrainingPreprocessor
from electra_keras.models import ElectraQuestionAnswerer
from electra_keras.models import ElectraTextClassifier
from electra_keras.models import ElectraTextClassifierPreprocessor
from electra_keras.models import ElectraTokenClassifier
from electra_keras.models import ReplacedTokenDetectionHead
from electra_keras.pretraining import ElectraPretrainer
from electra_keras.pretraining import MaskedLMPretrainer
from electra_keras.pretraining import WarmupLinearDecay
from electra_keras.pretraining import build_optimizer

__all__ = [
    "ElectraClassifier",
    "ElectraConfig",
    "ElectraEmbedding",
    "ElectraEncoder",
    "ElectraPretrainer",
    "ElectraPretrainingPreprocessor",
    "ElectraTextClassifier",
    "ElectraTextClassifierPreprocessor",
    "ElectraQuestionAnswerer",
    "ElectraTokenClassifier",
    "MaskedLMPretrainer",
    "ReplacedTokenDetectionHead",
    "WarmupLinearDecay",
    "build_optimizer",
]
__version__ = "0.2.0"
