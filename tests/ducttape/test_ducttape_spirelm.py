"""The SpireLM-shaped workflow of spec §7.4: imports, -C, -p, repeated branch point, bare branches."""

import os

import pytest

MINI_TAPE = """
task Label
    > dsus=dsu.txt
    :: model=@
    :: dtype=@
    :: cfg=@
{
  echo "$model $dtype $cfg" > $dsus
}

task Decode
    < dsus=@Label
    > hyps=hyps.txt
    :: max_tokens=@
{
  cat $dsus > $hyps; echo $max_tokens >> $hyps
}

plan Labelize {
    reach Label via (Dataset: *) * (KMModel: *)
}
plan DecodeBF16 {
    reach Decode via (Dataset: *) * (HubertDtype: bf16) * (Dataset: b)
}
"""

MINI_TCONF = """
import "sub.tconf"

global {
  ducttape_experimental_imports=true
  ducttape_output=out
  cfg=(
    Dataset:
      a="configs/a.yml"
      b="configs/b.yml"
  )
  max_tokens=(MaxTokens: 256 128)
}
"""

SUB_TCONF = """
global {
  model=(KMModel: spire="facebook/hubert")
  dtype=(HubertDtype: fp32 bf16)
}
"""


@pytest.fixture
def mini(tmp_path, write):
    write("mini.tape", MINI_TAPE)
    write("conf/mini.tconf", MINI_TCONF)
    write("conf/sub.tconf", SUB_TCONF)
    return tmp_path


def test_labelize(mini, dt):
    r = dt("mini.tape", "-C", "conf/mini.tconf", "-p", "Labelize", "-y")
    assert r.rc == 0, r
    label = mini / "out" / "Label"
    assert (label / "Baseline.baseline" / "dsu.txt").read_text() == \
        "facebook/hubert fp32 configs/a.yml\n"
    assert (label / "Dataset.b" / "dsu.txt").read_text() == "facebook/hubert fp32 configs/b.yml\n"
    link = label / "Dataset.a+HubertDtype.fp32+KMModel.spire"
    assert link.is_symlink() and os.readlink(link) == "Baseline.baseline"
    assert not (mini / "out" / "Decode").exists()


def test_decode_repeated_branch_point_last_wins(mini, dt):
    r = dt("mini.tape", "-C", "conf/mini.tconf", "-p", "DecodeBF16", "list")
    assert r.listed == ["Label Dataset.b+HubertDtype.bf16",
                                  "Decode Dataset.b+HubertDtype.bf16"]
    r = dt("mini.tape", "-C", "conf/mini.tconf", "-p", "DecodeBF16", "-y")
    assert r.rc == 0, r
    hyps = mini / "out" / "Decode" / "Dataset.b+HubertDtype.bf16" / "hyps.txt"
    assert hyps.read_text() == "facebook/hubert bf16 configs/b.yml\n256\n"
    assert sorted(os.listdir(mini / "out" / "Label")) == [
        "Dataset.b+HubertDtype.bf16", "Dataset.b+HubertDtype.bf16+KMModel.spire"]


def test_all_plans_union_without_p(mini, dt):
    r = dt("mini.tape", "-C", "conf/mini.tconf", "list")
    assert r.rc == 0
    assert r.listed == ["Label Baseline.baseline", "Label Dataset.b",
                                  "Label Dataset.b+HubertDtype.bf16",
                                  "Decode Dataset.b+HubertDtype.bf16"]
    assert "Using plans: Labelize, DecodeBF16" in r.err


def test_duplicate_global_in_another_tconf(mini, dt, write):
    write("conf/dup.tconf", "global {\n  dtype=(HubertDtype: fp32 bf16)\n}\n")
    p = mini / "conf" / "mini.tconf"
    p.write_text('import "dup.tconf"\n' + p.read_text())
    r = dt("mini.tape", "-C", "conf/mini.tconf", "list")
    assert r.rc == 1
    assert "Global variable dtype originally defined at" in r.err
    assert "sub.tconf:4" in r.err and "dup.tconf:2" in r.err


def test_imports_without_directive_warn(mini, dt):
    p = mini / "conf" / "mini.tconf"
    p.write_text(p.read_text().replace("  ducttape_experimental_imports=true\n", ""))
    r = dt("mini.tape", "-C", "conf/mini.tconf", "-p", "Labelize", "list")
    assert r.rc == 0
    assert "WARNING" in r.err and "ducttape_experimental_imports=true" in r.err


def test_missing_config_and_import(mini, dt):
    r = dt("mini.tape", "-C", "conf/nope.tconf", "list")
    assert r.rc == 1 and "Config file not found: conf/nope.tconf" in r.err
    (mini / "conf" / "sub.tconf").unlink()
    r = dt("mini.tape", "-C", "conf/mini.tconf", "list")
    assert r.rc == 1 and "Imported file not found" in r.err and "mini.tconf:2" in r.err


def test_plan_errors(mini, dt, write):
    r = dt("mini.tape", "-C", "conf/mini.tconf", "-p", "Nope", "list")
    assert r.rc == 1 and "One of the specified plans was not found" in r.err
    assert "Labelize" in r.err
    r = dt("mini.tape", "-C", "conf/mini.tconf", "-p", "Labelize", "-p", "Nope", "list")
    assert r.rc == 0 and "plan 'Nope' not found" in r.err
    write("bad.tape", MINI_TAPE + "plan Oops {\n  reach Label via (Datset: a)\n}\n")
    r = dt("bad.tape", "-C", "conf/mini.tconf", "-p", "Labelize", "list")
    assert r.rc == 1 and "No such branch point: Datset" in r.err and "bad.tape:26" in r.err
    write("zero.tape", MINI_TAPE + "plan Zero {\n  reach Label via (Dataset: nope)\n}\n")
    r = dt("zero.tape", "-C", "conf/mini.tconf", "-p", "Zero", "list")
    assert r.rc == 1 and "Plan includes zero tasks" in r.err


def test_reach_without_via_and_star_and_sequences(tmp_path, dt, write):
    write("seq.tape", """
        task Shard > out :: n=(ShardNumber: 1..20) {
          echo $n > $out
        }
        task Pool < shards=$out@Shard[ShardNumber:*] > out {
          cat $shards > $out
        }
        task Lengths :: x=(Threshold: 4.5 5.0) {
          echo $x
        }
        plan Some {
          reach Shard via (ShardNumber: *) * (ShardNumber: 1..3)
        }
        plan Plain {
          reach Lengths
        }
        plan Pooled {
          reach Pool
        }
        """)
    r = dt("seq.tape", "-p", "Some", "-p", "Plain", "list")
    assert r.listed == ["Shard Baseline.baseline", "Shard ShardNumber.2",
                                  "Shard ShardNumber.3", "Lengths Baseline.baseline"]
    r = dt("seq.tape", "-p", "Pooled", "-y")
    assert r.rc == 0, r
    assert (tmp_path / "Pool" / "Baseline.baseline" / "out").read_text() == \
        "".join(f"{i}\n" for i in range(1, 21))
    r = dt("seq.tape", "-p", "Pooled", "env", "Pool", "Baseline.baseline")
    shards = [ln for ln in r.out.splitlines() if ln.startswith("shards=")][0]
    assert shards.split("=", 1)[1].split() == [
        str(tmp_path / "Shard" / ("Baseline.baseline" if i == 1 else f"ShardNumber.{i}") / "out")
        for i in range(1, 21)]


def test_branch_values_that_are_task_outputs(tmp_path, dt, write):
    # historical SpireLM: < wav_tsv=(ASRDataset: ls_clean=$wav_tsv@ConvertTSV fleurs=$tsv@BuildNative)
    write("wf.tape", """
        task ConvertTSV > wav_tsv {
          echo convert > $wav_tsv
        }
        task BuildNative > tsv {
          echo native > $tsv
        }
        task Label < wav_tsv=(ASRDataset: ls_clean=$wav_tsv@ConvertTSV fleurs=$tsv@BuildNative) > out {
          cat $wav_tsv > $out
        }
        plan P {
          reach Label via (ASRDataset: fleurs)
        }
        """)
    r = dt("wf.tape", "list")
    assert r.listed == ["BuildNative Baseline.baseline", "Label ASRDataset.fleurs"]
    assert dt("wf.tape", "-y").rc == 0
    assert (tmp_path / "Label" / "ASRDataset.fleurs" / "out").read_text() == "native\n"
