#!/usr/bin/env python
"""Push a final model directory and its model card to the Hugging Face hub (spire/model_card.py).

Creates the repository if needed (--private to keep it private) and uploads the folder; a model
without a card gets one first (the options of tasks/write_model_card.py). Needs a token
(`huggingface-cli login` or HF_TOKEN) and network access (HF_HUB_OFFLINE unset).

    python tasks/push_model.py workflows/out/TrainIT/Baseline.baseline/model --repo-id me/spire-mini \\
        --results workflows/out/results/results.csv --names configs/eval/variants.yaml
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import model_card  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model_card.add_push_args(p)
    return model_card.push_main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
