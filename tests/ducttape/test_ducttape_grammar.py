"""Grammar: accepted and rejected snippets for every production; errors carry file:line."""

import textwrap

import pytest

from ducttape import syntax as S
from ducttape.errors import DucttapeError

from dt_helpers import load, listing


def parse(text, file="t.tape"):
    return S.parse_text(textwrap.dedent(text), file)


def one_task(text):
    blocks = [b for b in parse(text) if isinstance(b, S.TaskDef)]
    assert len(blocks) == 1
    return blocks[0]


def error_of(text, file="t.tape"):
    with pytest.raises(DucttapeError) as ei:
        parse(text, file)
    return ei.value


# ---- comments and whitespace -------------------------------------------------------------------

def test_comments_all_kinds():
    blocks = parse("""\
        #!/usr/bin/env ducttape
        # hash comment
        // slash comment
        /* block /* nested */ still comment */
        task t > x {
          echo hi > $x   # bash comment stays in the body
        }
        """)
    t = [b for b in blocks if isinstance(b, S.TaskDef)][0]
    assert "# bash comment" in t.body


def test_unclosed_block_comment():
    e = error_of("/* never closed\ntask t {\n}\n")
    assert e.line == 1 and "block comment" in e.msg


# ---- literals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("src,value", [
    ('x=plain', "plain"),
    ('x=/path/to/x', "/path/to/x"),
    ('x=utter-project/SpireFull', "utter-project/SpireFull"),
    ('x=zh-CN', "zh-CN"),
    ('x=4.5', "4.5"),
    ('x=~/data', "~/data"),
    ('x=a#b', "a#b"),
    ('x=a,b', "a,b"),
    ('x="a\\tb \\"c\\""', 'a\tb "c"'),
    ("x='single'", "single"),
    ('x="""raw \\t"""', "raw \\t"),
    ('x=""', ""),
    ('x="gpu:1"', "gpu:1"),
    ('x="\\u0041\\101"', "AA"),
])
def test_literals(src, value):
    t = one_task(f"task t :: {src} {{\n}}\n")
    assert t.params[0].value.value == value


def test_spaces_around_equals_for_params():
    t = one_task("task t :: u = spaced {\n}\n")
    assert t.params[0].name == "u" and t.params[0].value.value == "spaced"


@pytest.mark.parametrize("src,sym", [
    ("x=git://host", ":"), ("x=a+b", "+"), ("x=a@b", "@"), ("x=a$b", "$"), ("x=a*b", "*"),
    ("x=a(b", "("), ("x=a[b", "["),
])
def test_unquoted_literal_rejects_special_symbols(src, sym):
    e = error_of(f"task t :: {src} {{\n}}\n")
    assert f"may not contain a {sym} symbol" in e.msg
    assert e.file == "t.tape" and e.line == 1


def test_quoted_literal_must_end_cleanly():
    e = error_of('task t :: x="a"b {\n}\n')
    assert "quoted string" in e.msg


def test_multiline_quoted_literal():
    t = one_task('task t :: x="a\nb" {\n}\n')
    assert t.params[0].value.value == "a\nb"


# ---- task headers --------------------------------------------------------------------------------

def test_multiline_header_groups_in_any_order():
    t = one_task("""\
        task LabelAudio
            :: repo=@
            > dsus=dsu.txt
            < audio=@Fetch
            :: n=5
            > tok
        {
          echo
        }
        """)
    assert [s.name for s in t.params] == ["repo", "n"]
    assert [s.name for s in t.outputs] == ["dsus", "tok"]
    assert [s.name for s in t.inputs] == ["audio"]
    assert isinstance(t.params[0].value, S.Shorthand) and t.params[0].value.task is None
    assert t.inputs[0].value.task == "Fetch"


def test_header_on_one_line_and_comments_between_groups():
    t = one_task("""\
        task t < a=x.txt > out=y.gz :: p=1 q="two" {
        }
        task u
          # a comment before a group
          < a=x.txt
          // another
          > b
        {
        }
        """.split("task u")[0])
    assert t.outputs[0].value.value == "y.gz"
    blocks = parse("""\
        task u
          # a comment before a group
          < a=x.txt
          // another
          > b
        {
        }
        """)
    assert blocks[0].outputs[0].name == "b"


def test_empty_body_and_brace_on_next_line():
    t = one_task("task t\n{}\n")
    assert t.body == ""


def test_task_name_needs_whitespace():
    e = error_of("task t{\n}\n")
    assert "Illegal character" in e.msg and e.line == 1


def test_task_name_illegal_character():
    e = error_of("task my-task {\n}\n")
    assert "Illegal character '-'" in e.msg


def test_trailing_text_after_closing_brace():
    e = error_of("task t {\n  echo\n} extra\n")
    assert e.line == 3 and "after the closing }" in e.msg


def test_input_without_value_is_rejected():
    e = error_of("task t < x {\n}\n")
    assert "has no value" in e.msg and e.line == 1


def test_output_with_dotted_name_gets_a_hint():
    e = error_of("task t > y.txt {\n}\n")
    assert "y_txt=y.txt" in e.hint


def test_dot_params():
    t = one_task('task t :: .submitter=slurm .gpus=1 .time="1:00:00" n=1 {\n}\n')
    assert [(p.name, p.dot) for p in t.params] == [("submitter", True), ("gpus", True),
                                                   ("time", True), ("n", False)]


def test_missing_closing_brace_names_the_task_line():
    e = error_of("task t {\n  echo hi\n\ntask u {\n}\n", file="x.tape")
    assert "Missing closing } brace" in e.msg
    assert e.file == "x.tape" and e.line == 1
    assert "x.tape:1:" in e.format()


# ---- bash bodies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    'echo "}"',
    "echo '}'",
    "awk '{print $1}' file",
    'x=${y:-}; echo ${#x} ${x%%.*} ${x/\\}/}',
    'echo $(( ( 3 - 1 ) * 2 ))',
    'echo "$(echo ")")"',
    'cat <<EOF\n}\nEOF',
    'cat <<-EOF\n\t}\n\tEOF',
    "cat << 'END'\n} {\nEND",
    'cat <<< "}"',
    '# a comment with } and \' and (\necho ok',
    'case $x in\n  a) echo a ;;\n  *) echo b ;;\nesac',
    'if [[ $a == b ]]; then { echo x; }; fi',
    'echo a \\\n  b',
    "echo $'\\''",
    'echo `echo }`',
])
def test_bash_body_scanner(body):
    t = one_task("task t {\n" + body + "\n}\n")
    assert t.body == "\n" + body + "\n"


def test_body_is_kept_verbatim():
    src = "task t {\n    indented\n\ttabbed  \n}\n"
    assert one_task(src).body == "\n    indented\n\ttabbed  \n"


# ---- rvalues -------------------------------------------------------------------------------------

def test_variable_references():
    t = one_task("""\
        task t < a=$x@T b=${y}@U c=@V d=@W[BP:b1,C:*] e=$z[BP:b2] :: f=$g g=${h} h=@ {
        }
        """)
    a, b, c, d, e = (s.value for s in t.inputs)
    assert (a.name, a.task) == ("x", "T")
    assert (b.name, b.task) == ("y", "U")
    assert isinstance(c, S.Shorthand) and c.task == "V"
    assert d.grafts == [("BP", "b1"), ("C", "*")]
    assert e.grafts == [("BP", "b2")] and e.task is None
    assert [type(p.value).__name__ for p in t.params] == ["VarRef", "VarRef", "Shorthand"]


def test_shorthand_graft_on_global_is_an_error():
    e = error_of("task t :: a=@[BP:x] {\n}\n")
    assert "not allowed" in e.msg


def test_variable_followed_by_text_is_an_error():
    e = error_of("task t < a=$x.txt {\n}\n")
    assert "right after $x" in e.msg


def test_branch_points_named_bare_single_nested_multiline():
    t = one_task("""\
        task t :: a=(A: x=1 y=2) b=(LanguagePair: en_de en_es) c=(KMModel: spire=22)
               :: d=(Test: baseline=(NumRefs: oneRef=1 multiRef=4) mt02=(NumRefs: oneRef=1 multiRef=16))
               :: e=(
                    Dataset:
                      ls_clean="a.yml"   # comment inside
                      fleurs="b.yml"
                  )
               :: f=(Up: 10k=a 1M=b 0.5=c en_de=d)
               :: g=(B: $v@T nested=(N: 1..3))
        {
        }
        """)
    vals = {p.name: p.value for p in t.params}
    assert [b for b, _, _ in vals["a"].branches] == ["x", "y"]
    assert [b for b, _, _ in vals["b"].branches] == ["en_de", "en_es"]
    assert vals["b"].branches[0][1].value == "en_de"
    assert [b for b, _, _ in vals["c"].branches] == ["spire"]
    assert isinstance(vals["d"].branches[0][1], S.BranchPoint)
    assert [b for b, _, _ in vals["e"].branches] == ["ls_clean", "fleurs"]
    assert [b for b, _, _ in vals["f"].branches] == ["10k", "1M", "0.5", "en_de"]
    assert [b for b, _, _ in vals["g"].branches] == ["v", "nested"]


@pytest.mark.parametrize("src,values", [
    ("(S: 1..10)", [str(i) for i in range(1, 11)]),
    ("(S: 1..6..2)", ["1", "3", "5"]),
    ("(F: 0.5..1.5..0.5)", ["0.5", "1.0", "1.5"]),
    ("(F: 1.0..2.0..0.5)", ["1.0", "1.5", "2.0"]),
])
def test_sequences(src, values):
    t = one_task(f"task t :: x={src} {{\n}}\n")
    assert t.params[0].value.values() == values


@pytest.mark.parametrize("src,msg", [
    ("(a b)", "Anonymous branch points"),
    ("(1..3)", "Anonymous branch points"),
    ("(A: )", "no branches"),
    ("(A: $x)", "branch name"),
    ("(A: x=1", "Unclosed branch point"),
])
def test_bad_branch_points(src, msg):
    e = error_of(f"task t :: x={src} {{\n}}\n")
    assert msg in e.msg


# ---- global / config ----------------------------------------------------------------------------

def test_global_block():
    blocks = parse("""\
        global {
          a=1   # trailing comment
          b = spaced
          .dotted=x
          bp=(BP: a=1 b=2)
          multi=(
            M:
              one=1
              two=2
          )
            }
        global {

        }
        config {
          c=3
        }
        """)
    g = blocks[0]
    assert [(s.name, s.dot) for s in g.specs] == [("a", False), ("b", False), ("dotted", True),
                                                  ("bp", False), ("multi", False)]
    assert blocks[1].specs == []
    assert blocks[2].kind == "config"


@pytest.mark.parametrize("src,msg", [
    ("global name {\n}\n", "may not have a name"),
    ("global { a=1\n}\n", "Unexpected"),
    ("global {\n  a\n}\n", "Expected '='"),
    ("global {\n  a=1\n", "Missing closing }"),
    ("global{\n}\n", "space"),
])
def test_bad_global_blocks(src, msg):
    e = error_of(src)
    assert msg in e.msg and e.line


# ---- import --------------------------------------------------------------------------------------

def test_import_statements():
    blocks = parse('import "a.tconf"\nimport b.tconf  # comment\n')
    assert [b.path.value for b in blocks] == ["a.tconf", "b.tconf"]


# ---- plans ---------------------------------------------------------------------------------------

def test_plans():
    blocks = parse("""\
        plan Labelize {
          reach A, B via (X: *) * (Y: a b) * (Z: 1..3)
          reach C
          reach D via
              (X: a) *   # comment
              (Y: b)
          reach E via { (X: a) * (Z: 1..6..2) }
          reach F via (X: *) * (X: 1..2)
        }
        plan {
          reach A
        }
        """)
    p = blocks[0]
    assert p.name == "Labelize" and blocks[1].name is None
    c = p.clauses
    assert [g for g, _ in c[0].goals] == ["A", "B"]
    assert [(bp, items) for bp, items, _ in c[0].cross] == [("X", None), ("Y", ["a", "b"]),
                                                           ("Z", ["1", "2", "3"])]
    assert c[1].cross is None
    assert [(bp, items) for bp, items, _ in c[2].cross] == [("X", ["a"]), ("Y", ["b"])]
    assert [(bp, items) for bp, items, _ in c[3].cross] == [("X", ["a"]), ("Z", ["1", "3", "5"])]
    assert [(bp, items) for bp, items, _ in c[4].cross] == [("X", None), ("X", ["1", "2"])]


def test_plan_on_one_line_is_rejected():
    e = error_of("plan P { reach t }\n")
    assert "same line as the opening" in e.msg


@pytest.mark.parametrize("src,msg", [
    ("plan P {\n  reach\n}\n", "space"),
    ("plan P {\n  reach t via X\n}\n", "Expected '('"),
    ("plan P {\n  goto t\n}\n", "Expected 'reach'"),
])
def test_bad_plans(src, msg):
    assert msg in error_of(src).msg


# ---- func / calls / submitter / versioner / summary / package -----------------------------------

def test_func_and_calls():
    blocks = parse("""\
        func reusable : my_tool < in > out :: p {
          cat < $in > $out
        }
        task x calls reusable < in=small.txt > out :: p="something"
        task y calls reusable < in=big.txt > out :: p="else"
        """)
    f, x, y = blocks
    assert f.kind == "func" and [s.name for s in f.inputs] == ["in"]
    assert x.calls[0] == "reusable" and x.body is None and x.params[0].value.value == "something"
    assert y.inputs[0].value.value == "big.txt"


def test_submitter_versioner_summary_package():
    blocks = parse("""\
        submitter sge :: vmem walltime q
                      :: COMMANDS
                      :: TASK REALIZATION CONFIGURATION {
          action run {
            echo "$COMMANDS"
          }
        }
        versioner git :: repo ref {
          action checkout > dir {
            git clone $repo $dir
          }
          action repo_version > version {
            echo x > $version
          }
        }
        summary scores {
          of tune > bleu chrf {
            cat $TASK_DIR/x > $bleu
          }
        }
        package lunchpy :: .versioner=git .repo="git://github.com/x/y.git" .ref=HEAD {
          python -m compileall .
        }
        package my_tool :: .versioner=disk .path=/ {}
        """)
    sub, ver, summ, pkg, pkg2 = blocks
    assert [p.name for p in sub.header.params] == ["vmem", "walltime", "q", "COMMANDS", "TASK",
                                                   "REALIZATION", "CONFIGURATION"]
    assert [a.name for a in sub.children] == ["run"]
    assert [a.name for a in ver.children] == ["checkout", "repo_version"]
    assert summ.children[0].name == "tune" and [o.name for o in summ.children[0].outputs] == \
        ["bleu", "chrf"]
    assert pkg.params[1].value.value == "git://github.com/x/y.git"
    assert pkg2.body == ""


@pytest.mark.parametrize("kw", ["group", "branchpoint", "action", "of"])
def test_unsupported_blocks(kw):
    assert "not supported" in error_of(f"{kw} x {{\n}}\n").msg


def test_unknown_top_level_word():
    e = error_of("task t {\n}\n\ntsak u {\n}\n", file="w.tape")
    assert "Unknown block type 'tsak'" in e.msg and e.line == 4
    text = e.format()
    assert "w.tape:4:1" in text and "tsak u {" in text and "^" in text


# ---- static checks (§1.16) -----------------------------------------------------------------------

def _build_error(tmp_path, text, **kw):
    with pytest.raises(DucttapeError) as ei:
        load(tmp_path, text, **kw)
    return ei.value.format()


def test_baseline_mismatch(tmp_path):
    msg = _build_error(tmp_path, """\
        task a :: x=(BP: one two three) {
        }
        task b :: x=(BP: three two one) {
        }
        """)
    assert "baseline" in msg and "wf.tape:3" in msg


def test_branch_set_mismatch(tmp_path):
    msg = _build_error(tmp_path, """\
        task a :: x=(BP: one two three) {
        }
        task b :: x=(BP: one two) {
        }
        """)
    assert "same set of branches" in msg


def test_same_branches_other_order_is_fine(tmp_path):
    wf = load(tmp_path, """\
        task a :: x=(BP: one two three) {
        }
        task b :: x=(BP: one three two) {
        }
        """)
    assert wf.bps["BP"].baseline == "one"


@pytest.mark.parametrize("text,msg", [
    ("task a > x {\n}\ntask a > y {\n}\n", "defined twice"),
    ("task a > x :: x=1 {\n}\n", "declared twice"),
    ('task a < x="" {\n}\n', "Empty literal"),
    ('task a > x="" {\n}\n', "is empty"),
    ("task a > x=(B: a b) {\n}\n", "Outputs may not define branch points"),
    ("task a > x=@b {\n}\ntask b > x {\n}\n", "must be a literal"),
    ("task a :: x=$nope {\n}\n", "Config variable nope required by parameter x at task a not found"),
    ("task a < x=$y@nope {\n}\n", "Unknown task 'nope'"),
    ("task a :: p=$x@b {\n}\ntask b > x {\n}\n", "wrong type"),
    ("task a < i=$p@b {\n}\ntask b :: p=1 {\n}\n", "wrong type"),
    ("global {\n  a=1\n  a=2\n}\n", "Global variable a originally defined at"),
    ("task a :: .submitter=shell {\n}\n", "experimental submitters"),
    ("task a calls nothing > x\n", "unknown function"),
    ("task a < i=$o@b > x {\n}\ntask b < y=$x@a > o {\n}\n", "Cycle"),
    ("task a :: x=(B: a b) {\n}\nplan P {\n  reach a via (Nope: *)\n}\n", "No such branch point: Nope"),
    ("task a {\n}\nplan P {\n  reach zz\n}\n", "unknown task 'zz'"),
])
def test_static_errors(tmp_path, text, msg):
    out = _build_error(tmp_path, text)
    assert msg in out
    assert "wf.tape:" in out


def test_graft_on_missing_branch_point_is_reported(tmp_path):
    out = _build_error(tmp_path, """\
        task a > x {
        }
        task b < x=$x@a[BP:one] :: y=(BP: one two) {
        }
        """)
    assert "does not depend on branch point BP" in out


def test_errors_are_collected(tmp_path):
    out = _build_error(tmp_path, "task a :: x=$nope {\n}\ntask b :: y=$nope2 {\n}\n")
    assert "nope " in out and "nope2" in out and "2 errors" in out


def test_duplicate_global_across_imports(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.tconf").write_text("global {\n  dtype=fp32\n}\n")
    (tmp_path / "conf" / "b.tconf").write_text("global {\n  x=1\n  dtype=bf16\n}\n")
    (tmp_path / "conf" / "main.tconf").write_text(
        'import "a.tconf"\nimport "b.tconf"\nglobal {\n  ducttape_experimental_imports=true\n}\n')
    with pytest.raises(DucttapeError) as ei:
        load(tmp_path, "task t :: dtype=@ {\n}\n", config=str(tmp_path / "conf" / "main.tconf"))
    msg = ei.value.format()
    assert "Global variable dtype originally defined at" in msg
    assert "a.tconf:2" in msg and "b.tconf:3" in msg


def test_missing_import(tmp_path):
    out = _build_error(tmp_path, 'import "nope.tconf"\ntask t {\n}\n')
    assert "Imported file not found" in out and "wf.tape:1" in out


def test_realizations_of_simple_workflow(tmp_path):
    wf = load(tmp_path, "task a > x {\n}\n")
    assert listing(wf) == [("a", "Baseline.baseline")]
