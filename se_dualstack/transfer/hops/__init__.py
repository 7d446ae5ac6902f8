"""The redirect chain (SE6-XFER-03): every hop from an entry point to a data server, per family.

Why apart from the round trips: a transfer through a head node that fails says "it failed"; the
chain says where. Field failures sit on the redirect hop (a door handing an IPv6 client an IPv4
literal, an IPv6 literal without brackets, a link-local address, a mover port closed over IPv6),
and a round trip through a dual-stack client can even hide them. No pytest here; each module owns
its names:

* :mod:`~se_dualstack.transfer.hops.chain`: the chain as plain data, the redirect targets as
  written, and the judgement (which hop is wrong, on which host); pure, tested on captured answers
* :mod:`~se_dualstack.transfer.hops.cases`: one chain per entry point x target x protocol x family
  x credential, from the storage registry's ``redirects``
* :mod:`~se_dualstack.transfer.hops.http`, :mod:`~se_dualstack.transfer.hops.xroot`: the tracers
  the protocol registry names (``Redirect.tracer``): HTTP ``Location`` and xroot ``kXR_redirect``
* :mod:`~se_dualstack.transfer.hops.xrdprobe`: the XRootD client process the xroot tracer runs
* :mod:`~se_dualstack.transfer.hops.html`: the chain as a report extra (rendering only)

How a chain is followed without moving data: the request is the one an upload starts with, since
every storage system redirects it (DPM and XRootD redirectors, dCache doors, EOS MGMs) and it needs
no file to exist: an HTTP ``PUT`` with ``Expect: 100-continue`` and no body (a redirector answers
3xx, the data server ``100 Continue``), an xroot ``kXR_open``
for a new file. The data server may create an empty file of a fresh name in the test directory
(the transfers' path guard applies); the tracer removes it at once and the check says so.
"""
