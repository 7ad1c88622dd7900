"""Packages and versioners (experimental in 0.3; spec §5.2): ``OUT/.packages/<pkg>/<version>/``."""

import os
import subprocess
import tempfile

from .errors import DucttapeError
from .execute import PREAMBLE, log


def check_packages(wf):
    """Static checks: a known versioner, every dot parameter it declares, literal values."""
    from . import syntax as S
    errors = []
    for name, p in wf.packages.items():
        params = {s.name: s for s in p.params}
        for s in p.params:
            if not isinstance(s.value, S.Literal):
                errors.append(s.pos.error(f"Parameters of package '{name}' must be literal values"))
        vspec = params.get("versioner")
        if vspec is None or not vspec.dot:
            errors.append(p.pos.error(f"Package '{name}' has no .versioner parameter",
                                      ":: .versioner=git .repo=URL .ref=HEAD"))
            continue
        vname = getattr(vspec.value, "value", None)
        ver = wf.versioners.get(vname)
        if ver is None:
            errors.append(vspec.pos.error(f"Unknown versioner '{vname}' for package '{name}'",
                                          "git, svn, disk or a versioner block"))
            continue
        for vp in ver.header.params:
            if vp.name not in params or not params[vp.name].dot:
                errors.append(p.pos.error(
                    f"Package '{name}' must define .{vp.name}, required by versioner '{vname}'"))
        actions = {a.name: a for a in ver.children}
        for act, outs in (("checkout", ["dir"]), ("repo_version", ["version"])):
            if act not in actions:
                errors.append(ver.pos.error(f"Versioner '{vname}' has no '{act}' action"))
            elif [o.name for o in actions[act].outputs] != outs:
                errors.append(actions[act].pos.error(
                    f"Action '{act}' of versioner '{vname}' must output exactly: {' '.join(outs)}"))
    return errors


def _dot_env(p):
    return {s.name: s.value.value for s in p.params if s.dot}


def _plain_env(p):
    return {s.name: s.value.value for s in p.params if not s.dot}


def _action(wf, p, name):
    vname = _dot_env(p)["versioner"]
    for a in wf.versioners[vname].children:
        if a.name == name:
            return a
    raise DucttapeError(f"Versioner '{vname}' has no '{name}' action")


def pkg_root(wf, name):
    return os.path.join(wf.out, ".packages", name)


def repo_version(wf, name):
    p = wf.packages[name]
    with tempfile.TemporaryDirectory(prefix="ducttape-version-") as tmp:
        env = dict(os.environ)
        env.update(_dot_env(p))
        env["version"] = os.path.join(tmp, "version")
        body = _action(wf, p, "repo_version").body
        proc = subprocess.run(["bash", "-c", PREAMBLE + body], cwd=tmp, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DucttapeError(f"Could not get the version of package '{name}': "
                                + proc.stderr.strip()[-500:])
        try:
            with open(env["version"]) as f:
                v = f.read().strip()
        except OSError:
            v = ""
        if not v or "/" in v:
            raise DucttapeError(f"Versioner of package '{name}' returned an invalid version {v!r}")
        return v


def find_versions(wf, names, update=False):
    """name -> (version, built?) without building anything."""
    out = {}
    for name in names:
        root = pkg_root(wf, name)
        head = os.path.join(root, "HEAD")
        v = None
        if not update and not wf.auto_update and os.path.exists(head):
            with open(head) as f:
                v = f.read().strip() or None
        if v is None:
            v = repo_version(wf, name)
        ec = os.path.join(root, v, "build_exit_code.txt")
        built = False
        if os.path.exists(ec):
            with open(ec) as f:
                built = f.read().strip() == "0"
        out[name] = (v, built)
    return out


def build(wf, name, version):
    import shutil
    p = wf.packages[name]
    root = pkg_root(wf, name)
    d = os.path.join(root, version)
    if os.path.lexists(d):
        shutil.rmtree(d)
    os.makedirs(root, exist_ok=True)
    log(f"Building package {name} version {version} in {d}")
    env = dict(os.environ)
    env.update(_dot_env(p))
    env["dir"] = d
    with tempfile.TemporaryDirectory(prefix="ducttape-checkout-", dir=root) as sandbox:
        proc = subprocess.run(["bash", "-c", PREAMBLE + _action(wf, p, "checkout").body],
                              cwd=sandbox, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "checkout_stdout.txt"), "wb") as f:
        f.write(proc.stdout)
    with open(os.path.join(d, "checkout_stderr.txt"), "wb") as f:
        f.write(proc.stderr)
    if proc.returncode != 0:
        with open(os.path.join(d, "build_exit_code.txt"), "w") as f:
            f.write(str(proc.returncode))
        raise DucttapeError(f"Checkout of package '{name}' failed; see {d}/checkout_stderr.txt")
    env = dict(os.environ)
    env.update(_plain_env(p))
    with open(os.path.join(d, "build_stdout.txt"), "wb") as so, \
            open(os.path.join(d, "build_stderr.txt"), "wb") as se:
        rc = subprocess.run(["bash", "-c", PREAMBLE + (p.body or "")], cwd=d, env=env,
                            stdin=subprocess.DEVNULL, stdout=so, stderr=se).returncode
    with open(os.path.join(d, "build_exit_code.txt"), "w") as f:
        f.write(str(rc))
    if rc != 0:
        raise DucttapeError(f"Build of package '{name}' failed; see {d}/build_stderr.txt")
    with open(os.path.join(root, "HEAD"), "w") as f:
        f.write(version)
