"""Run-config classes made from the pipeline's settings dataclasses, so that every default
lives in one place (the settings classes, overridden by the active profile's file, see
:mod:`pipeline.profiles`) and the Launchpad shows the same fields."""

import dataclasses
import typing

import dagster as dg
from pydantic import create_model

from pipeline.profiles import active_profile


def run_config_class(name: str, source: type, doc: str, section: str) -> type[dg.Config]:
    """A ``dg.Config`` with the fields of dataclass ``source`` (tuples as lists, which Dagster's
    config system takes), defaulting to the active profile's ``settings.<section>`` values and
    to the class's own defaults for the rest."""
    hints = typing.get_type_hints(source)
    profiled = dataclasses.asdict(active_profile().settings_for(section))
    fields = {}
    for field in dataclasses.fields(source):
        hint, default = hints[field.name], profiled[field.name]
        if typing.get_origin(hint) is tuple:
            hint, default = list[typing.get_args(hint)[0]], list(default)
        fields[field.name] = (hint, default)
    return create_model(name, __base__=dg.Config, __doc__=doc, __module__=__name__, **fields)


def to_settings(config: dg.Config, source: type, **overrides):
    """The dataclass ``source`` from a run config made by :func:`run_config_class`."""
    values = {**config.model_dump(), **overrides}
    for field in dataclasses.fields(source):
        if isinstance(field.default, tuple):
            values[field.name] = tuple(values[field.name])
    return source(**values)
