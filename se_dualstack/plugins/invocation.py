"""The command line as a site admin types it: ``pytest --inventory /etc/ansible/hosts``.

Why this module: pytest settles its rootdir and ini file before it loads installed plugins, so
when it first reads the command line it knows none of this suite's options. In ``--inventory
/etc/ansible/hosts`` it takes ``/etc/ansible/hosts`` for a test path: the rootdir becomes the
common ancestor of the working directory and ``/etc/ansible`` (``/``), pytest.ini is not read,
``testpaths`` do not apply and ``selftests/`` is collected. The same holds for every path
option of every installed plugin (``--waivers``, ``--baseline``, ``--ssh-config``, ``--html``).
``pytest_load_initial_conftests`` is the first hook an installed plugin sees after that, and by
then every option is known: the setup is decided again there, from the real test paths, with
pytest's own ``determine_setup``, before any conftest, ini value or report path is used.

The correction sets four private attributes of ``Config`` (checked on pytest 8.4 and 9.2); on a
pytest that lacks them the run stops with one line saying to write ``--option=PATH`` or to use
``se-dualstack run`` (which passes ``-c`` and so never needs the correction).

``se-dualstack run`` runs the installed suite from any directory with ``-c <suite>/pytest.ini``:
there the rootdir is the suite's directory and the invocation directory is elsewhere, so
pytest would not apply ``testpaths``; this module adds them (and resolves ``tests/...``
against the suite) when the ini file is the suite's own.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
from _pytest.config.findpaths import determine_setup

from se_dualstack import installed

# Config's private attributes that hold the setup (pytest 9 names first, then pytest 8's).
_SETUP_ATTRS = ("_rootpath", "_inipath", "_inicache")
_INICFG_ATTRS = ("_inicfg", "inicfg")


def settled_setup(config: pytest.Config) -> tuple[Path, Path | None, Any]:
    """(rootdir, ini file, ini values) as pytest decides them from the arguments as now parsed."""
    ns = config.known_args_namespace
    kw: dict[str, Any] = {"inifile": ns.inifilename, "args": list(ns.file_or_dir),
                          "rootdir_cmd_arg": ns.rootdir or None,
                          "invocation_dir": config.invocation_params.dir}
    if "override_ini" in inspect.signature(determine_setup).parameters:  # pytest >= 9
        kw["override_ini"] = ns.override_ini
    found = determine_setup(**kw)
    return found[0], found[1], found[2]


def _misread(config: pytest.Config, rootpath: Path) -> str:
    """The option values pytest took for test paths, for the one-line error."""
    return (f"pytest chose the rootdir {config.rootpath} (the right one is {rootpath}) because it "
            "read a path option's value as a test path")


def resettle(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> bool:
    """Put the rootdir and ini file where the real test paths say; True if they moved."""
    rootpath, inipath, inicfg = settled_setup(config)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return False
    cfg_attr = next((a for a in _INICFG_ATTRS if hasattr(config, a)), None)
    if cfg_attr is None or not all(hasattr(config, a) for a in _SETUP_ATTRS):
        raise pytest.UsageError(
            f"{_misread(config, rootpath)}; write path options with '=' (--inventory=PATH) or run "
            "se-dualstack run [pytest options]"
        )
    worker = hasattr(config, "workerinput")
    old_addopts = [] if worker else list(config.getini("addopts"))
    config._rootpath = rootpath  # type: ignore[attr-defined]
    config._inipath = inipath  # type: ignore[attr-defined]
    setattr(config, cfg_attr, inicfg)
    config._inicache.clear()  # type: ignore[attr-defined]
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    if not worker:  # the right ini file's addopts replace the wrong one's (workers get none)
        if old_addopts and args[:len(old_addopts)] == old_addopts:
            del args[:len(old_addopts)]
        new_addopts = list(config.getini("addopts"))
        args[:0] = new_addopts
        config.pluginmanager.consider_preparse(new_addopts, exclude_only=False)  # -p no:NAME
    _reparse(config, parser, args)
    # pytest 9 turns --strict-markers & co. into ini overrides: take those of the addopts too.
    setattr(config, cfg_attr, settled_setup(config)[2])
    config._inicache.clear()  # type: ignore[attr-defined]
    return True


def _reparse(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Parse ``args`` again as pytest did before this hook, confcutdir defaulted as pytest does."""
    ns = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if ns.confcutdir is None:
        ns.confcutdir = str(config.inipath.parent if config.inipath else config.rootpath)
    config.known_args_namespace = ns


def suite_paths(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """With the suite's own ini file from another directory: its testpaths, its ``tests/...``."""
    here = Path(config.invocation_params.dir)
    inipath = config.inipath
    if inipath is None or here == config.rootpath or not installed.is_suite_ini(inipath):
        return
    given = list(config.known_args_namespace.file_or_dir)
    if not given:
        args.extend(str(config.rootpath / p) for p in config.getini("testpaths"))
    else:
        for arg in given:
            path = arg.split("::", 1)[0]
            if arg in args and not (here / path).exists() and (config.rootpath / path).exists():
                args[args.index(arg)] = str(config.rootpath / arg)
    _reparse(config, parser, args)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    """Before pytest loads a conftest: the rootdir, ini file and test paths as typed."""
    resettle(early_config, parser, args)
    suite_paths(early_config, parser, args)
