"""The gfal-copy / gfal-rm command lines a site admin pastes to repeat a transfer by hand.

Why with the same forcing: a failure the suite reports must reproduce outside it, over the
same family, or the admin chases a different problem.
"""

from __future__ import annotations

import shlex


def token_prefix(token_file: str) -> str:
    """How a pasted command gets the token: by its file, as WLCG clients do (never the value)."""
    return f"export BEARER_TOKEN_FILE={shlex.quote(token_file)} XrdSecPROTOCOL=ztn; "


def _token_args(token_file: str, urls: str) -> list[str]:
    """gfal-copy has no token option: gfal2 reads BEARER:TOKEN from its config (-D) for https.
    The argument stays a shell expansion of the file, so the printed line never holds the token."""
    if token_file and ("davs://" in urls or "https://" in urls):
        return ["-D", '"BEARER:TOKEN=$(cat "$BEARER_TOKEN_FILE")"']
    return []


def gfal_copy_command(src: str, dst: str, protocol: str, family: int, timeout: float,
                      shim: str | None, checksum: str = "ADLER32", token_file: str = "",
                      copy_mode: str = "") -> str:
    """The equivalent gfal-copy command line, with the same forcing, to paste in a shell."""
    env = []
    if shim:
        env += [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"]
    if "root://" in (src + dst):
        env.append(f"XRD_NETWORKSTACK=IPv{family}")
        if "root://" in src and "root://" in dst and not token_file:
            env.append("XrdSecGSIDELEGPROXY=1")
    args = ["gfal-copy", "-f", "-t", str(int(timeout)), "-K", checksum, "--checksum-mode", "both"]
    if "gsiftp://" in (src + dst):
        args += ["-D", f"GRIDFTP PLUGIN:IPV6={'true' if family == 6 else 'false'}"]
    if copy_mode:  # HTTP-TPC pull or push, as the suite ran it
        args += ["-D", f"HTTP PLUGIN:DEFAULT_COPY_MODE={copy_mode}"]
    line = " ".join([*env, *(shlex.quote(a) for a in args), *_token_args(token_file, src + dst),
                     shlex.quote(src), shlex.quote(dst)])
    return (token_prefix(token_file) if token_file else "") + line


def gfal_rm_command(url: str, protocol: str, family: int, shim: str | None, token_file: str = "") -> str:
    """The equivalent gfal-rm, with the same forcing (to clean up by hand)."""
    env = [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"] if shim else []
    if protocol == "root":
        env.append(f"XRD_NETWORKSTACK=IPv{family}")
    line = " ".join([*env, "gfal-rm", *_token_args(token_file, url), shlex.quote(url)])
    return (token_prefix(token_file) if token_file else "") + line
