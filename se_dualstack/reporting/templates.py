"""The report's templates and its one style sheet (package data under ``data/``).

Why templates: the HTML of the summary, the transfer tables, each check's and each transfer's
explanation and the comparison page used to be f-strings in five modules, with two style sheets.
Here they are Jinja2 templates (Jinja2 comes with pytest-html) under ``data/templates/``, all
styled by ``data/report.css``; every page or fragment leaves through :func:`redact`, because
gfal2 errors and messages are quoted as they come and a report is an artefact a site keeps.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import jinja2

from se_dualstack.redact import redact


@functools.cache
def css() -> str:
    """The report's one style sheet."""
    return resources.files("se_dualstack").joinpath("data/report.css").read_text(encoding="utf-8")


@functools.cache
def environment() -> jinja2.Environment:
    """Autoescaping Jinja2 environment over the packaged templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("se_dualstack", "data/templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False)
    env.globals["css"] = css
    env.filters["pct"] = lambda x: f"{x:.0%}"
    env.filters["signed_pct"] = lambda x: f"{x:+.0%}"
    return env


def render(name: str, **context: Any) -> str:
    """A template rendered with ``context``, credentials redacted."""
    return redact(environment().get_template(name).render(**context))


def macro(name: str, macro_name: str, *args: Any) -> str:
    """One macro of a template called with ``args`` (escaped by the macro), credentials redacted."""
    module = environment().get_template(name).make_module()
    return redact(str(getattr(module, macro_name)(*args)))
