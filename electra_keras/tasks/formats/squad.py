"""Extractive question answering data: SQuAD-layout files, windows, decoding, the official metrics.

SQuAD v1.1 and v2.0, KorQuAD 1.0 and CMRC 2018 share one JSON layout.
`read_squad` turns a file into `SquadExample`s; `make_windows` tokenizes
them into `[CLS] question [SEP] context-window [SEP]` rows that slide over
long contexts, each token carrying the character span of the context it
came from; `decode_answers` turns a model's start/end logits back into
character spans of the context; `squad_metrics` scores predicted texts the
way the official evaluation scripts of SQuAD, KorQuAD and CMRC do.

(Over 400 lines on purpose: the four steps share `SquadExample` and the
window layout, and a reader checks decoding against windowing and the
metrics against the official scripts in one place.)
"""

import collections
import dataclasses
import json
import pathlib
import re
import string

import numpy as np

# SQuAD has a few answers whose `answer_start` is off by a character or two;
# google-research/electra tolerates them, so we look this far either side.
_START_TOLERANCE = 2


class SquadDataError(ValueError):
    """A SQuAD-layout file that cannot be read; the message names file and JSON path."""


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question on one context, with its gold answers.

    Args:
        id: str, the question's id, unique in its file.
        question: str.
        context: str, the paragraph answers are taken from.
        answers: tuple of `(text, char_start)`; empty for an unanswerable
            (`is_impossible`) or unlabelled question.
        is_impossible: bool, SQuAD v2.0's "no answer in the context".

    Example:
    ```python
    example = electra_keras.data.SquadExample("q1", "Where?", "In Seoul.", (("Seoul", 3),))
    ```
    """

    id: str
    question: str
    context: str
    answers: tuple = ()
    is_impossible: bool = False


@dataclasses.dataclass(frozen=True)
class AnswerPrediction:
    """The best span `decode_answers` found for one example.

    Args:
        id: str, the example's id.
        text: str, `context[char_start:char_end]` ("" when no span fits).
        char_start, char_end: int, the span in the context.
        score: float, start logit plus end logit of the span.
        null_diff: float, the no-answer score minus `score`; above the
            null threshold the prediction is "no answer".

    Example:
    ```python
    predictions = electra_keras.data.decode_answers(examples, windows, start_logits, end_logits)
    print(predictions[0].text, predictions[0].null_diff)
    ```
    """

    id: str
    text: str
    char_start: int
    char_end: int
    score: float
    null_diff: float


def read_squad(path):
    """Reads a SQuAD v1.1/v2.0 (or KorQuAD 1.0, CMRC 2018) JSON file into examples.

    An `answer_start` up to two characters away from its text is corrected;
    further away is an error.

    Args:
        path: str or `pathlib.Path` of the JSON file.

    Returns:
        A list of `SquadExample`, in file order.

    Raises:
        SquadDataError: naming the file and the JSON path of the problem
            (`data[0].paragraphs[3].qas[1]`): not UTF-8 JSON, empty, a
            missing or mistyped field, a duplicate id, an answer not found
            at its `answer_start`.

    Example:
    ```python
    examples = electra_keras.data.read_squad("dev-v2.0.json")
    ```
    """
    path = pathlib.Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SquadDataError(f"{path}: file not found") from None
    except OSError as error:
        raise SquadDataError(f"{path}: cannot read ({error})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SquadDataError(f"{path}:{line}: not UTF-8 ({error.reason}); re-save the file as UTF-8") from None
    if not text.strip():
        raise SquadDataError(f"{path}: empty file")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SquadDataError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})") from None
    except (ValueError, RecursionError) as error:  # huge numbers and deep nesting are not JSONDecodeErrors
        raise SquadDataError(f"{path}: not valid JSON ({error})") from None

    examples, first_seen = [], {}
    for a, article in enumerate(_field(path, document, "data", list, "top level")):
        for p, paragraph in enumerate(_field(path, article, "paragraphs", list, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(path, paragraph, "context", str, where)
            for q, qa in enumerate(_field(path, paragraph, "qas", list, where)):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                qid = str(_field(path, qa, "id", (str, int), where))
                if qid in first_seen:
                    raise SquadDataError(f"{path}: {where}: duplicate id {qid!r} (first at {first_seen[qid]})")
                first_seen[qid] = where
                question = _field(path, qa, "question", str, where)
                is_impossible = "is_impossible" in qa and _field(path, qa, "is_impossible", bool, where)
                # v2.0's unanswerable questions keep only `plausible_answers`.
                answers = tuple(
                    _checked_answer(path, f"{where}.answers[{n}]", answer, context)
                    for n, answer in enumerate(_field(path, qa, "answers", list, where))
                    if not is_impossible
                )
                examples.append(SquadExample(qid, question, context, answers, is_impossible))
    if not examples:
        raise SquadDataError(f"{path}: no questions under data[].paragraphs[].qas[]")
    return examples


def _field(path, value, key, kinds, where):
    if not isinstance(value, dict) or key not in value:
        raise SquadDataError(f"{path}: {where}: missing field {key!r}")
    # bool is an int in Python, but an answer_start of `true` is still wrong.
    if not isinstance(value[key], kinds) or isinstance(value[key], bool) != (kinds is bool):
        expected = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise SquadDataError(f"{path}: {where}.{key}: expected {expected}, got {value[key]!r:.60}")
    return value[key]


def _checked_answer(path, where, answer, context):
    text = _field(path, answer, "text", str, where)
    start = _field(path, answer, "answer_start", int, where)
    if not text:
        raise SquadDataError(f"{path}: {where}.text: empty answer")
    for shift in sorted(range(-_START_TOLERANCE, _START_TOLERANCE + 1), key=abs):
        if 0 <= start + shift and context[start + shift : start + shift + len(text)] == text:
            return text, start + shift
    found = context[max(start, 0) : max(start, 0) + len(text)]
    raise SquadDataError(
        f"{path}: {where}: answer {text!r:.60} is not at answer_start {start} of the context "
        f"(found {found!r:.60}; ±{_START_TOLERANCE} characters tried)"
    )


def make_windows(examples, tokenizer, sequence_length, max_question_tokens=64, doc_stride=128):
    """Tokenized `[CLS] question [SEP] context-window [SEP]` rows with answer positions and character spans.

    A context longer than one row is covered by windows starting every
    `doc_stride` context tokens. A window's gold positions point at the
    answer's first and last tokens (the first token overlapping the
    answer's first character through the last overlapping its last); they
    are 0, the [CLS] token, for unanswerable or unlabelled examples and
    where the answer is not wholly inside the window.

    Args:
        examples: list of `SquadExample`.
        tokenizer: the model's `keras_hub.models.ElectraTokenizer` (as
            `make_tokenizer` gives); its vocabulary and casing are used
            through `OffsetTokenizer`, which also gives offsets.
        sequence_length: int, tokens per row.
        max_question_tokens: int, questions are cut to this many tokens.
        doc_stride: int, context tokens between the starts of windows.

    Returns:
        A dict of NumPy arrays, one row per window: `token_ids`,
        `segment_ids`, `padding_mask`, `start_positions`, `end_positions`
        (int32), `example_index` (which example the window is of) and
        `char_starts`/`char_ends` (`[windows, sequence_length]`, the
        context characters each token covers; -1 outside the context).

    Example:
    ```python
    tokenizer = electra_keras.data.make_tokenizer("vocab.txt")
    windows = electra_keras.data.make_windows(examples, tokenizer, 384)
    ```
    """
    if not examples:
        raise ValueError("make_windows needs at least one example")
    # TensorFlow is only needed here: reading and scoring work without it.
    import tensorflow as tf

    from electra_keras.data.offsets import OffsetTokenizer
    from electra_keras.data.offsets import byte_to_char_offsets

    offset_tokenizer = OffsetTokenizer.like(tokenizer)
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    questions = _ragged_rows(offset_tokenizer(tf.constant([e.question for e in examples], tf.string))[0])
    # A SQuAD paragraph has several questions: tokenize each context once.
    contexts = list(dict.fromkeys(e.context for e in examples))
    context_row = {context: row for row, context in enumerate(contexts)}
    ids, starts, ends = (_ragged_rows(part) for part in offset_tokenizer(tf.constant(contexts, tf.string)))
    char_spans = []
    for row, context in enumerate(contexts):
        to_char = np.asarray(byte_to_char_offsets(context))
        char_spans.append((to_char[starts[row]], to_char[ends[row]]))

    rows = collections.defaultdict(list)
    for index, example in enumerate(examples):
        question = questions[index][:max_question_tokens]
        budget = sequence_length - len(question) - 3
        if budget < 1:
            raise ValueError(
                f"sequence_length {sequence_length} leaves no room for the context after a "
                f"{len(question)}-token question; raise it or lower max_question_tokens"
            )
        row = context_row[example.context]
        context_ids, (char_starts, char_ends) = ids[row], char_spans[row]
        answer_tokens = _answer_tokens(example, char_starts, char_ends)
        offset = len(question) + 2
        for window_start in _window_starts(len(context_ids), budget, doc_stride):
            window_end = min(window_start + budget, len(context_ids))
            token_ids = [cls_id, *question, sep_id, *context_ids[window_start:window_end], sep_id]
            positions = (0, 0)
            if answer_tokens and window_start <= answer_tokens[0] and answer_tokens[1] < window_end:
                positions = (answer_tokens[0] - window_start + offset, answer_tokens[1] - window_start + offset)
            spans = np.full((2, sequence_length), -1, dtype="int32")
            spans[0, offset : offset + window_end - window_start] = char_starts[window_start:window_end]
            spans[1, offset : offset + window_end - window_start] = char_ends[window_start:window_end]
            rows["token_ids"].append(token_ids + [pad_id] * (sequence_length - len(token_ids)))
            rows["segment_ids"].append([0] * offset + [1] * (len(token_ids) - offset) + [0] * (sequence_length - len(token_ids)))
            rows["padding_mask"].append([1] * len(token_ids) + [0] * (sequence_length - len(token_ids)))
            rows["start_positions"].append(positions[0])
            rows["end_positions"].append(positions[1])
            rows["example_index"].append(index)
            rows["char_starts"].append(spans[0])
            rows["char_ends"].append(spans[1])
    return {name: np.asarray(values, dtype="int32") for name, values in rows.items()}


def _ragged_rows(ragged):
    values, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
    return [values[splits[i] : splits[i + 1]] for i in range(len(splits) - 1)]


def _window_starts(num_tokens, budget, doc_stride):
    start = 0
    while True:
        yield start
        if start + budget >= num_tokens:
            return
        # Never step past the window's end, or tokens would fall between windows.
        start += min(budget, doc_stride)


def _answer_tokens(example, char_starts, char_ends):
    """`(first, last)` context token of the first gold answer, or None."""
    if example.is_impossible or not example.answers:
        return None
    text, answer_start = example.answers[0]
    answer_end = answer_start + len(text)
    overlapping = np.flatnonzero((char_ends > answer_start) & (char_starts < answer_end))
    if len(overlapping) == 0:
        return None
    return int(overlapping[0]), int(overlapping[-1])


def decode_answers(examples, windows, start_logits, end_logits, n_best=20, max_answer_length=30):
    """The best-scoring context span of each example over all its windows, and its no-answer margin.

    Spans start at one of the `n_best` highest start logits of a window and
    end at one of its `n_best` highest end logits, inside the context, with
    start <= end and at most `max_answer_length` tokens. The no-answer
    score is the smallest [CLS] start + end logit over the example's windows.

    Args:
        examples: list of `SquadExample`, as given to `make_windows`.
        windows: the dict `make_windows` returned.
        start_logits, end_logits: arrays `[windows, sequence_length]`.
        n_best: int, candidates per window for each end of the span.
        max_answer_length: int, the longest answer in tokens.

    Returns:
        A list of `AnswerPrediction`, one per example.

    Example:
    ```python
    outputs = model.predict(windows)
    predictions = electra_keras.data.decode_answers(
        examples, windows, outputs["start_logits"], outputs["end_logits"]
    )
    ```
    """
    start_logits, end_logits = np.asarray(start_logits, "float64"), np.asarray(end_logits, "float64")
    if start_logits.shape != windows["char_starts"].shape or end_logits.shape != start_logits.shape:
        raise ValueError(
            f"logits must be [windows, sequence_length] = {windows['char_starts'].shape}, "
            f"got {start_logits.shape} and {end_logits.shape}"
        )
    best = [(-np.inf, -1, -1) for _ in examples]
    null = [np.inf for _ in examples]
    for window, index in enumerate(windows["example_index"]):
        null[index] = min(null[index], start_logits[window, 0] + end_logits[window, 0])
        in_context = np.flatnonzero(windows["char_starts"][window] >= 0)
        if len(in_context) == 0:
            continue
        starts = in_context[np.argsort(-start_logits[window, in_context], kind="stable")[:n_best]]
        ends = in_context[np.argsort(-end_logits[window, in_context], kind="stable")[:n_best]]
        scores = start_logits[window, starts][:, None] + end_logits[window, ends][None, :]
        length = ends[None, :] - starts[:, None] + 1
        scores = np.where((length >= 1) & (length <= max_answer_length), scores, -np.inf)
        i, j = np.unravel_index(np.argmax(scores), scores.shape)
        if scores[i, j] > best[index][0]:
            best[index] = (scores[i, j], windows["char_starts"][window, starts[i]], windows["char_ends"][window, ends[j]])
    predictions = []
    for example, (score, char_start, char_end), null_score in zip(examples, best, null):
        text = example.context[char_start:char_end] if char_start >= 0 else ""
        predictions.append(
            AnswerPrediction(example.id, text, int(char_start), int(char_end), float(score), float(null_score - score))
        )
    return predictions


def apply_null_threshold(predictions, threshold):
    """Predicted texts: "" (no answer) where `null_diff` is above `threshold`, else the best span.

    Args:
        predictions: list of `AnswerPrediction`.
        threshold: float, e.g. from `best_null_threshold` on dev.

    Example:
    ```python
    texts = electra_keras.data.apply_null_threshold(predictions, 0.0)
    ```
    """
    return ["" if p.null_diff > threshold else p.text for p in predictions]


def best_null_threshold(predictions, examples, language=None):
    """The null threshold that maximises F1 on labelled examples, and that F1.

    As the official SQuAD v2.0 script's `find_best_thresh`: answer the
    examples in order of increasing `null_diff` and keep the cut-off with
    the best total F1 (ties between equal `null_diff`s are kept together).

    Args:
        predictions: list of `AnswerPrediction` for `examples`.
        examples: list of `SquadExample` with gold answers.
        language: as in `squad_metrics`.

    Returns:
        `(threshold, f1)`: float, and the F1 (0-100) it gives.

    Example:
    ```python
    threshold, dev_f1 = electra_keras.data.best_null_threshold(predictions, dev_examples)
    ```
    """
    if not examples or len(predictions) != len(examples):
        raise ValueError(f"need one prediction per example, got {len(predictions)} for {len(examples)}")
    language = language or _dominant_language(examples)
    order = sorted(range(len(examples)), key=lambda i: predictions[i].null_diff)
    # Start with every example answered "no answer", then answer them one by one.
    current = best = sum(not _gold_texts(e) for e in examples)
    threshold = predictions[order[0]].null_diff - 1.0
    for position, i in enumerate(order):
        gold = _gold_texts(examples[i])
        if gold:
            current += f1(predictions[i].text, gold, language)
        elif predictions[i].text:
            current -= 1
        last_of_tie = position + 1 == len(order) or predictions[order[position + 1]].null_diff != predictions[i].null_diff
        if last_of_tie and current > best:
            best, threshold = current, predictions[i].null_diff
    return threshold, 100.0 * best / len(examples)


def normalize_answer(text):
    """The official SQuAD normalisation: lowercase, no punctuation, no English articles, single spaces.

    Args:
        text: str, an answer or a prediction.

    Example:
    ```python
    electra_keras.tasks.formats.squad.normalize_answer("The Cat!")  # "cat"
    ```
    """
    text = "".join(c for c in text.lower() if c not in _ASCII_PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


_ASCII_PUNCTUATION = frozenset(string.punctuation)
# KorQuAD's script turns these into spaces before dropping ASCII punctuation.
_KOREAN_SPACED = str.maketrans({c: " " for c in "'\"《》<>〈〉()‘’"})
# CMRC 2018's punctuation list, plus ASCII punctuation and the other CJK marks.
_CHINESE_PUNCTUATION = _ASCII_PUNCTUATION | frozenset("，。：？！“”‘’；《》…·、「」（）－～『』〈〉【】—")


def _tokens(text, language):
    """What F1 counts: words (SQuAD), characters (KorQuAD), CJK characters and other runs (CMRC)."""
    if language == "ko":
        return [c for c in _normalized(text, "ko") if not c.isspace()]
    if language == "zh":
        # CMRC's mixed segmentation: each Chinese character is a token, runs of
        # anything else (English words, numbers) are split on whitespace only.
        tokens, run = [], ""
        for character in text.lower().strip() + " ":
            if character in _CHINESE_PUNCTUATION:
                continue
            if _is_han(character) or character.isspace():
                tokens += [run] if run else []
                tokens += [character] if _is_han(character) else []
                run = ""
            else:
                run += character
        return tokens
    return normalize_answer(text).split()


def _normalized(text, language):
    if language not in ("en", "ko", "zh"):
        raise ValueError(f"language must be 'en' (SQuAD), 'ko' (KorQuAD) or 'zh' (CMRC 2018), got {language!r}")
    if language == "ko":
        text = "".join(c for c in text.translate(_KOREAN_SPACED).lower() if c not in _ASCII_PUNCTUATION)
        return " ".join(text.split())
    if language == "zh":
        return "".join(c for c in text.lower().strip() if c not in _CHINESE_PUNCTUATION)
    return normalize_answer(text)


def _is_han(character):
    return "\u4e00" <= character <= "\u9fff" or "\u3400" <= character <= "\u4dbf"


def exact_match(prediction, gold_answers, language="en"):
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    Args:
        prediction: str, "" for "no answer".
        gold_answers: list of str; empty (or all empty) means unanswerable,
            scored as the single gold answer "".
        language: "en" (SQuAD), "ko" (KorQuAD) or "zh" (CMRC 2018).

    Example:
    ```python
    electra_keras.tasks.formats.squad.exact_match("The Cat!", ["cat"])  # 1.0
    ```
    """
    gold = [g for g in gold_answers if _normalized(g, language)] or [""]
    return float(any(_normalized(prediction, language) == _normalized(g, language) for g in gold))


def f1(prediction, gold_answers, language="en"):
    """The official token-overlap F1 (0-1), the best over gold answers.

    SQuAD counts words after `normalize_answer`; KorQuAD counts characters
    after its normalisation; CMRC 2018 takes the longest common run of its
    mixed segmentation. An empty side scores 1 only if both are empty.

    Args:
        prediction: str, "" for "no answer".
        gold_answers: list of str, as in `exact_match`.
        language: "en", "ko" or "zh".

    Example:
    ```python
    electra_keras.tasks.formats.squad.f1("the black cat", ["a cat"])  # 2 * (1/2 * 1) / (1/2 + 1) = 0.667
    ```
    """
    gold = [g for g in gold_answers if _normalized(g, language)] or [""]
    predicted = _tokens(prediction, language)
    scores = []
    for answer in gold:
        expected = _tokens(answer, language)
        if not predicted or not expected:
            scores.append(float(predicted == expected))
            continue
        if language == "zh":
            same = _longest_common_run(predicted, expected)
        else:
            same = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
        scores.append(0.0 if same == 0 else 2 * same / (len(predicted) + len(expected)))
    return max(scores)


def _longest_common_run(first, second):
    best, previous = 0, [0] * (len(second) + 1)
    for a in first:
        current = [0] * (len(second) + 1)
        for j, b in enumerate(second):
            if a == b:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def _gold_texts(example):
    """The gold answer texts; none for an unanswerable example."""
    return [] if example.is_impossible else [text for text, _ in example.answers]


def _dominant_language(examples):
    """"zh" or "ko" when most letters of the contexts are Chinese or Hangul, else "en"."""
    letters = han = hangul = 0
    for context in dict.fromkeys(e.context for e in examples):
        letters += sum(c.isalnum() for c in context)
        han += sum(_is_han(c) for c in context)
        hangul += sum("\uac00" <= c <= "\ud7a3" or "\u1100" <= c <= "\u11ff" or "\u3130" <= c <= "\u318f" for c in context)
    if han * 2 > letters:
        return "zh"
    return "ko" if hangul * 2 > letters else "en"


def squad_metrics(examples, predicted_texts, language=None):
    """The official exact match and F1 (0-100) of predicted texts, split by answerability for SQuAD v2.0.

    Args:
        examples: list of `SquadExample` with gold answers.
        predicted_texts: list of str aligned with `examples`, or a dict from
            example id to str; "" predicts "no answer".
        language: "en" (SQuAD's words), "ko" (KorQuAD's characters), "zh"
            (CMRC 2018's mixed segmentation), or None to choose "zh"/"ko"
            when most letters of the contexts are Chinese/Hangul.

    Returns:
        A dict with `exact`, `f1`, `total`, and when some examples are
        unanswerable `HasAns_exact`, `HasAns_f1`, `HasAns_total`,
        `NoAns_exact`, `NoAns_f1`, `NoAns_total`.

    Example:
    ```python
    texts = electra_keras.data.apply_null_threshold(predictions, threshold)
    scores = electra_keras.data.squad_metrics(examples, texts)
    ```
    """
    if isinstance(predicted_texts, dict):
        missing = [e.id for e in examples if e.id not in predicted_texts]
        if missing:
            raise ValueError(f"no prediction for {len(missing)} examples, e.g. id {missing[0]!r}")
        predicted_texts = [predicted_texts[e.id] for e in examples]
    if not examples or len(predicted_texts) != len(examples):
        raise ValueError(f"need one predicted text per example, got {len(predicted_texts)} for {len(examples)}")
    language = language or _dominant_language(examples)
    groups = collections.defaultdict(list)
    for example, text in zip(examples, predicted_texts):
        gold = _gold_texts(example)
        scores = (exact_match(text, gold, language), f1(text, gold, language))
        groups[""].append(scores)
        groups["HasAns_" if gold else "NoAns_"].append(scores)
    result = {}
    for prefix in ("", "HasAns_", "NoAns_") if any(e.is_impossible for e in examples) else ("",):
        scores = groups[prefix]
        result[f"{prefix}exact"] = 100.0 * sum(s[0] for s in scores) / len(scores) if scores else 0.0
        result[f"{prefix}f1"] = 100.0 * sum(s[1] for s in scores) / len(scores) if scores else 0.0
        result[f"{prefix}total"] = len(scores)
    return result
