"""Command-line options built from a config class: a field declared with `config.option`
becomes `--field-name`, with the field's default and help, so each lives in one place.

    @app.command()
    @options_from(TrainConfig)
    def train(dataset: ..., out: ..., options: dict) -> None:
        config = TrainConfig(dataset=..., out=..., **options)

Lists are typed comma separated (`--widths 32,64,128`) or, declared `repeat`, as a repeated
option (`--where a --where b`); a boolean takes its field's flag pair (`--bf16/--fp32`) or
`--name/--no-name`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import MISSING, fields
from typing import Annotated

import typer


def options_from(kind):
    """Decorate a command whose last parameter is `options`: it gets every option field of
    the config class `kind` as keyword options, and `options` their values,
    parsed to the fields' types."""

    def decorate(command):
        own = list(inspect.signature(command, eval_str=True).parameters.values())[:-1]
        hints = typing.get_type_hints(kind)
        offered = [f for f in fields(kind) if "help" in f.metadata]
        added = [_parameter(f, hints[f.name]) for f in offered]
        names = {f.name for f in offered}

        @functools.wraps(command)
        def run(**values):
            options = {k: _parsed(k, values.pop(k), hints[k]) for k in list(values) if k in names}
            return command(**values, options=options)

        parameters = [*own, *added]
        run.__signature__ = inspect.Signature(parameters)
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # typer reads the signature above, not the command's
        return run

    return decorate


def _parameter(spec, hint) -> inspect.Parameter:
    """The typer option of a config field."""
    default = spec.default if spec.default_factory is MISSING else spec.default_factory()
    kind = _cli_type(hint)
    if spec.metadata.get("repeat"):
        kind, default = list[str] | None, None
    elif kind is str and isinstance(default, list):
        default = ",".join(map(str, default))
    decls = [spec.metadata["flag"]] if "flag" in spec.metadata else []
    option = typer.Option(*decls, help=spec.metadata["help"])
    return inspect.Parameter(
        spec.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, option],
    )


def _cli_type(hint):
    """What typer reads for a field's type: a list as a comma-separated string, a choice
    (Literal) as a string, anything else as it is."""
    return str if typing.get_origin(hint) in (list, typing.Literal) else hint


def _parsed(name: str, value, hint):
    """A command-line value as the field's type (a list from its comma-separated text)."""
    if typing.get_origin(hint) is not list:
        return value
    if not isinstance(value, str):  # a repeated option: its values, or none given
        return list(value or [])
    (item,) = typing.get_args(hint)
    try:
        return [item(v) for v in value.split(",") if v.strip()]
    except ValueError:
        flag = "--" + name.replace("_", "-")
        wanted = f"{value!r}: {item.__name__}s, comma separated"
        raise typer.BadParameter(wanted, param_hint=flag) from None
