"""Labelled files and their metrics: what fine-tuning reads and how it is scored.

- `labelled_rows`: labelled CSV/TSV/JSONL rows (classification, regression,
  multi-label), read with errors naming file and line, and encoded.
- `tagging`: CoNLL or JSONL tagged sentences, BIO/IOBES spans, the CoNLL
  entity score, subword labels.
- `squad`: SQuAD v1.1/v2.0, KorQuAD and CMRC 2018 files, windows with
  character spans, answer decoding, the official EM and F1.
- `labelled_tasks`, `tagging_tasks`, `qa_tasks`: real labelled tasks built
  from files fetched through the package registries.

These sit just above `electra_keras.data` (they tokenize with it) and below
the models: nothing here knows a head or a training loop.

Example:
```python
from electra_keras.tasks.formats.squad import read_squad

examples = read_squad("dev-v2.0.json")
```
"""
