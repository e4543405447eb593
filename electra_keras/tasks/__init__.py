"""Fine-tuning tasks: the labelled formats (`formats/`) and, one module per task, the plug-ins.

Example:
```python
from electra_keras.tasks.formats.labelled_rows import read_labelled

texts, pairs, labels = read_labelled("train.csv")
```
"""
