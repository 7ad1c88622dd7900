#!/usr/bin/env python
"""What a fetch plan will download and roughly how big, before running it.

`ducttape paper.tape -p fetch_eval --dry-run` prints the jobs; this prints, for the same plan as
the ducttape engine resolves it, each hub split, model and sacreBLEU asset with its approximate
size (``approx_gb`` of each dataset YAML, configs/models/hub_models.yaml for models; "unknown"
where no public figure was found) and a total, plus the steps that need a manual download.

    python tasks/fetch_plan.py workflows/paper.tape --plan fetch_eval
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import mirror  # noqa: E402


def plan_lines(tape: str, plan: str, config: str | None = None) -> list[tuple[str, float | None]]:
    """(line, GB) for every download of ``plan``'s Fetch* jobs, in the engine's order."""
    from ducttape.workflow import Workflow

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fetch_dataset

    wf = Workflow(str(tape), config, None)
    configs = Path(tape).resolve().parent.parent / "configs"
    lines: list[tuple[str, float | None]] = []
    seen: set[str] = set()
    for r in wf.plan([plan]):
        env = dict(r.env())
        if r.task.name == "FetchDataset":
            files = [str(f) for c in env["configs"].split() if not c.startswith("url:")
                     for f in sorted(configs.glob(c))]
            lines += fetch_dataset.plan_lines(files)
            lines += [(mirror.size_line(f"archive {c[4:]}", None), None)
                      for c in env["configs"].split() if c.startswith("url:")]
        elif r.task.name == "FetchHubModel" and env["repo_id"] not in seen:
            seen.add(env["repo_id"])
            gb = mirror.model_size_gb(env["repo_id"])
            lines.append((mirror.size_line(f"model {env['repo_id']}", gb), gb))
        elif r.task.name == "FetchSacrebleu":
            testsets, spm = mirror.sacrebleu_assets([configs / c for c in env["configs"].split()])
            lines += [(line, None) for line in mirror.sacrebleu_plan_lines(testsets, spm)]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tape", help="the workflow, e.g. workflows/paper.tape")
    ap.add_argument("--plan", default="fetch_eval", help="the fetch plan (default %(default)s)")
    ap.add_argument("-C", "--config", default=None, help="a .tconf, as ducttape's -C")
    args = ap.parse_args(argv)
    lines = plan_lines(args.tape, args.plan, args.config)
    print(f"-p {args.plan} downloads (approximate sizes):")
    print("\n".join([line for line, _ in lines] + [mirror.total_line([gb for _, gb in lines])]))


if __name__ == "__main__":
    main()
