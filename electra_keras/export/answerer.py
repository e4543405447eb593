"""A fine-tuned question answerer as a SavedModel for TF Serving: question and context in, the answer out.

Signature `answer` (also `serving_default`): `question` and `context`
`[batch]` strings in; out, one per question:

- `answer`: the answer as written in the context ("" for no answer),
- `start`, `end`: int32 character offsets, `context[start:end] == answer`
  (-1 for no answer),
- `score`: the best span's start + end logit; `null_score_diff`: the
  no-answer score minus it (the answer is "" when this is above the
  threshold tuned on the dev set, SQuAD v2.0's rule).

Long contexts are read in windows every `doc_stride` tokens, as in
training (`electra_keras.tasks.formats.squad.make_windows`); the best span over all
windows of a question wins, searched over spans of the context at most `max_answer_length` tokens long among each window's
`n_best` starts and ends, as `decode_answers` does. Only TensorFlow core ops
and the tensorflow-text ops the stock model server links are used.
"""

import tensorflow as tf

from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.export.fused_encoder import serving_task_model
from electra_keras.export.request_limits import ANSWERER_MAX_REQUEST_CHARACTERS
from electra_keras.export.request_limits import RequestLimits
from electra_keras.export.savedmodel import write_saved_model
from electra_keras.export.text_encoding import char_offsets
from electra_keras.export.text_encoding import same_batch
from electra_keras.export.text_encoding import valid_utf8

_NONE = -1e9  # the score of a span that is not allowed


class AnswererServingModule(tf.Module):
    """Serving signature `answer` of a fine-tuned `ElectraQuestionAnswerer` (see the module doc).

    Args:
        reader: an `electra_keras.models.ElectraQuestionAnswerer`.
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length, max_question_tokens, doc_stride, max_answer_length, n_best: as in training.
        null_threshold: float or None; None never answers "" (SQuAD v1.1).
        lowercase, strip_accents, tokenize_chinese_chars: BERT's tokenizer settings, as in training.
        request_limits: a `RequestLimits` (or a dict of its arguments) for
            `question` and `context` each; default 64 texts, 10,000 characters each, 20,000 in all
            (a window every `doc_stride` tokens of context is a model row).
        fused: bool, run the encoder as a `FusedEncoder` where it can, as in
            `DiscriminatorServingModule`.

    Example:
    ```python
    module = AnswererServingModule(reader, "vocab.txt", 128, null_threshold=0.0)
    module.answer(tf.constant(["수도는?"]), tf.constant(["서울은 한국의 수도이다."]))["answer"]
    ```
    """

    def __init__(self, reader, vocabulary, sequence_length, max_question_tokens=64, doc_stride=128,
                 max_answer_length=30, null_threshold=None, lowercase=False, strip_accents=None, n_best=20,
                 tokenize_chinese_chars=True, request_limits=None, fused=True):
        super().__init__()
        self.request_limits = RequestLimits.of(request_limits, max_request_characters=ANSWERER_MAX_REQUEST_CHARACTERS)
        if not isinstance(vocabulary, (list, tuple)):
            vocabulary = load_vocabulary(vocabulary)
        if sequence_length - max_question_tokens - 3 < 1:
            raise ValueError(f"sequence_length {sequence_length} leaves no room for a context after "
                             f"{max_question_tokens} question tokens")
        self.model = serving_task_model(reader, fused)
        self.sequence_length = sequence_length
        self.max_question_tokens = max_question_tokens
        self.doc_stride = doc_stride
        self.max_answer_length = max_answer_length
        self.n_best = n_best
        self.null_threshold = float("inf") if null_threshold is None else float(null_threshold)
        self.tokenizer = OffsetTokenizer(vocabulary, lowercase, strip_accents, tokenize_chinese_chars)
        index = {token: i for i, token in enumerate(vocabulary)}
        self.cls_id, self.sep_id, self.pad_id = index["[CLS]"], index["[SEP]"], index["[PAD]"]
        strings = tf.TensorSpec([None], tf.string)
        self.answer = tf.function(self._answer, input_signature=[
            tf.TensorSpec.from_spec(strings, name="question"), tf.TensorSpec.from_spec(strings, name="context")])

    @property
    def resources(self):
        return self.model.resources

    def windows(self, question, context):
        """Model inputs of every window and, per window, its question, context start and length."""
        question_ids, _, _ = self.tokenizer(question)
        question_ids = question_ids[:, : self.max_question_tokens]
        context_ids, context_starts, context_ends = self.tokenizer(context)
        question_length = question_ids.row_lengths()
        context_length = context_ids.row_lengths()
        budget = self.sequence_length - question_length - 3
        step = tf.minimum(budget, self.doc_stride)
        extra = tf.maximum(context_length - budget, 0)
        count = 1 + (extra + step - 1) // step
        window = tf.ragged.range(count)
        example = window.value_rowids()
        start = window.flat_values * tf.gather(step, example)
        length = tf.minimum(tf.gather(budget, example), tf.gather(context_length, example) - start)
        first = tf.gather(context_ids.row_splits, example) + start
        pieces = tf.gather(context_ids.flat_values, tf.ragged.range(first, first + length))
        questions = tf.gather(question_ids, example)
        edge = tf.RaggedTensor.from_tensor(tf.ones([tf.size(example), 1], tf.int32))
        framed = tf.concat([edge * self.cls_id, questions, edge * self.sep_id, pieces, edge * self.sep_id], axis=1)
        segments = tf.concat([edge * 0, questions * 0, edge * 0, pieces * 0 + 1, edge], axis=1)
        shape = [None, self.sequence_length]
        inputs = {
            "token_ids": framed.to_tensor(self.pad_id, shape=shape),
            "segment_ids": segments.to_tensor(0, shape=shape),
            "padding_mask": tf.cast(tf.sequence_mask(framed.row_lengths(), self.sequence_length), tf.int32),
        }
        layout = {"example": example, "question_length": tf.gather(question_length, example), "first": first,
                  "length": length, "starts": context_starts.flat_values, "ends": context_ends.flat_values}
        return inputs, layout

    def _answer(self, question, context):
        question = self.request_limits.checked("question", valid_utf8(question))
        context = self.request_limits.checked("context", valid_utf8(context))
        question, context = same_batch(question, context, "question and context need the same batch size")
        inputs, layout = self.windows(question, context)
        outputs = self.model(inputs)
        start_logits = tf.cast(outputs["start_logits"], tf.float32)
        end_logits = tf.cast(outputs["end_logits"], tf.float32)

        # As decode_answers: each window's n_best starts and ends in the context,
        # start <= end, at most max_answer_length tokens.
        positions = tf.range(self.sequence_length, dtype=tf.int64)[None, :]
        context_from = layout["question_length"][:, None] + 2
        in_context = (positions >= context_from) & (positions < context_from + layout["length"][:, None])
        k = min(self.n_best, self.sequence_length)
        start_value, start_index = tf.math.top_k(tf.where(in_context, start_logits, _NONE), k)
        end_value, end_index = tf.math.top_k(tf.where(in_context, end_logits, _NONE), k)
        length = end_index[:, None, :] - start_index[:, :, None] + 1
        valid = (length >= 1) & (length <= self.max_answer_length)
        valid &= (start_value[:, :, None] > _NONE) & (end_value[:, None, :] > _NONE)
        pairs = tf.where(valid, start_value[:, :, None] + end_value[:, None, :], _NONE)
        flat = tf.reshape(pairs, [tf.shape(pairs)[0], k * k])
        best = tf.argmax(flat, axis=-1, output_type=tf.int32)
        window_score = tf.reduce_max(flat, axis=-1)
        start_position = tf.cast(tf.gather(start_index, best // k, batch_dims=1), tf.int64)
        end_position = tf.cast(tf.gather(end_index, best % k, batch_dims=1), tf.int64)

        # The best window of each question; its null score is the least over its windows.
        rows = tf.shape(question, out_type=tf.int64)[0]
        example = layout["example"]
        score = tf.math.unsorted_segment_max(window_score, example, rows)
        null_score = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0], example, rows)
        window_ids = tf.range(tf.size(example, out_type=tf.int64))
        is_best = window_score >= tf.gather(score, example)
        chosen = tf.math.unsorted_segment_min(tf.where(is_best, window_ids, tf.int64.max), example, rows)

        offset = tf.gather(layout["first"], chosen) - tf.gather(layout["question_length"], chosen) - 2
        found = score > _NONE / 2
        # Index 0 is a stand-in for "no span": a question whose contexts have no tokens at all.
        byte_start = tf.gather(tf.concat([[0], layout["starts"]], 0),
                               tf.where(found, offset + tf.gather(start_position, chosen) + 1, 0))
        byte_end = tf.gather(tf.concat([[0], layout["ends"]], 0),
                             tf.where(found, offset + tf.gather(end_position, chosen) + 1, 0))
        null_score_diff = null_score - score
        answered = found & (null_score_diff <= self.null_threshold)

        char_start = char_offsets(context, tf.range(rows), byte_start)
        char_end = char_offsets(context, tf.range(rows), byte_end)
        text = tf.strings.substr(context, byte_start, byte_end - byte_start)
        return {
            "answer": tf.where(answered, text, ""),
            "start": tf.where(answered, tf.cast(char_start, tf.int32), -1),
            "end": tf.where(answered, tf.cast(char_end, tf.int32), -1),
            "score": tf.where(found, score, 0.0),
            "null_score_diff": tf.where(found, null_score_diff, 0.0),
        }


def export_answerer(reader, export_dir, vocabulary, sequence_length, max_question_tokens=64, doc_stride=128,
                    max_answer_length=30, null_threshold=None, lowercase=False, strip_accents=None,
                    warmup_pairs=None, n_best=20, tokenize_chinese_chars=True, request_limits=None, fused=True):
    """Writes a fine-tuned question answerer as a SavedModel with the `answer` signature, atomically.

    `request_limits` (a `RequestLimits` or a dict of its arguments) is the
    largest request served, for questions and contexts each; `fused=False`
    serves the Keras layers rather than a `FusedEncoder`.

    Example:
    ```python
    electra_keras.export.export_answerer(reader, "models/korquad/1", "vocab.txt", 384, null_threshold=0.0)
    # REST: POST /v1/models/korquad:predict
    #   {"signature_name": "answer", "inputs": {"question": ["수도는?"], "context": ["서울은 한국의 수도이다."]}}
    ```
    """
    module = AnswererServingModule(reader, vocabulary, sequence_length, max_question_tokens, doc_stride,
                                   max_answer_length, null_threshold, lowercase, strip_accents, n_best,
                                   tokenize_chinese_chars, request_limits, fused)
    module.answer(tf.constant(["built"]), tf.constant(["built too"]))
    pairs = list(warmup_pairs or [("What is detected?", "ELECTRA detects replaced tokens."),
                                  ("무엇을 설정합니까?", "대화 상자에서 콘트롤의 속성을 설정할 수 있습니다.")])
    warmup = {"question": [q for q, _ in pairs], "context": [c for _, c in pairs]}
    endpoints = {"answer": module.answer, "serving_default": module.answer}
    return write_saved_model(export_dir, module.resources, endpoints, warmup, request_limits=module.request_limits)
