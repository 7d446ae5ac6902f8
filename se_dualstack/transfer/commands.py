"""The gfal-copy / gfal-rm command lines a site admin pastes to repeat a transfer by hand.

Why with the same forcing: a failure the suite reports must reproduce outside it, over the
same family, or the admin chases a different problem.
"""

from __future__ import annotations

import shlex


def gfal_copy_command(src: str, dst: str, protocol: str, family: int, timeout: float,
                      shim: str | None, checksum: str = "ADLER32") -> str:
    """The equivalent gfal-copy command line, with the same forcing, to paste in a shell."""
    env = []
    if shim:
        env += [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"]
    if "root://" in (src + dst):
        env.append(f"XRD_NETWORKSTACK=IPv{family}")
        if "root://" in src and "root://" in dst:
            env.append("XrdSecGSIDELEGPROXY=1")
    args = ["gfal-copy", "-f", "-t", str(int(timeout)), "-K", checksum, "--checksum-mode", "both"]
    if "gsiftp://" in (src + dst):
        args += ["-D", f"GRIDFTP PLUGIN:IPV6={'true' if family == 6 else 'false'}"]
    return " ".join([*env, *(shlex.quote(a) for a in args), shlex.quote(src), shlex.quote(dst)])


def gfal_rm_command(url: str, protocol: str, family: int, shim: str | None) -> str:
    """The equivalent gfal-rm, with the same forcing (to clean up by hand)."""
    env = [f"LD_PRELOAD={shlex.quote(shim)}", f"SE6_FAMILY={family}"] if shim else []
    if protocol == "root":
        env.append(f"XRD_NETWORKSTACK=IPv{family}")
    return " ".join([*env, "gfal-rm", shlex.quote(url)])
