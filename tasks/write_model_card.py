#!/usr/bin/env python
"""Write or refresh the model card (README.md) of final model directories (spire/model_card.py).

The workflow writes one at the end of TrainCPT and TrainIT (with the speech-unit facts only it
knows); `make results` refreshes every card with the scores of the results table. A card that
exists keeps its facts; the hyper-parameters and scores are read again from the files.

    python tasks/write_model_card.py workflows/out/TrainIT/Baseline.baseline/model \\
        --results workflows/out/results/results.csv --names configs/eval/variants.yaml
    python tasks/write_model_card.py OUT/TrainCPT/*/model OUT/TrainIT/*/model --results ... --names ...
    python tasks/write_model_card.py MODEL --fact encoder_layer=22 --fact clusters=5000 --encoder DIR
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import model_card  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dirs", nargs="+", help="final model directories (train_summary.json inside)")
    model_card.add_card_args(p)
    return model_card.card_main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
