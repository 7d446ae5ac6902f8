"""The gfal-copy / gfal-rm command lines a site admin pastes to repeat a transfer by hand.

Why with the same forcing: a failure the suite reports must reproduce outside it, over the
same family, or the admin chases a different problem. The pieces (environment, ``-D`` options,
the token argument) are each protocol's own (:mod:`se_dualstack.transfer.protocols`); this module
only puts them in order and quotes them.
"""

from __future__ import annotations

import shlex

from se_dualstack.transfer import protocols
from se_dualstack.transfer.protocols.base import option_text


def token_prefix(token_file: str) -> str:
    """How a pasted command gets the token: by its file, as WLCG clients do (never the value)."""
    return " ".join(["export", f"BEARER_TOKEN_FILE={shlex.quote(token_file)}", *protocols.token_env()]) + "; "


def _shim_env(family: int, shim: str | None) -> list[str]:
    return [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"] if shim else []


def gfal_copy_command(src: str, dst: str, protocol: str, family: int, timeout: float,
                      shim: str | None, checksum: str = "ADLER32", token_file: str = "",
                      copy_mode: str = "") -> str:
    """The equivalent gfal-copy command line, with the same forcing, to paste in a shell.

    ``copy_mode``: a third-party copy's mode as the case names it (``pull``, ``push``)."""
    proto = protocols.get(protocol)
    third_party = not src.startswith("file:") and not dst.startswith("file:")
    env = [*_shim_env(family, shim), *proto.command_env(family, third_party, bool(token_file))]
    args = ["gfal-copy", "-f", "-t", str(int(timeout)), "-K", checksum, "--checksum-mode", "both",
            *proto.command_args(family)]
    option = proto.copy_mode_option(copy_mode) if copy_mode else None
    if option is not None:  # the third-party copy mode, as the suite ran it
        args += ["-D", option_text(option)]
    token_args = proto.command_token_args() if token_file else []
    line = " ".join([*env, *(shlex.quote(a) for a in args), *token_args, shlex.quote(src), shlex.quote(dst)])
    return (token_prefix(token_file) if token_file else "") + line


def gfal_rm_command(url: str, protocol: str, family: int, shim: str | None, token_file: str = "") -> str:
    """The equivalent gfal-rm, with the same forcing (to clean up by hand)."""
    proto = protocols.get(protocol)
    env = [*_shim_env(family, shim), *proto.command_env(family, False, bool(token_file))]
    token_args = proto.command_token_args() if token_file else []
    line = " ".join([*env, "gfal-rm", *token_args, shlex.quote(url)])
    return (token_prefix(token_file) if token_file else "") + line
