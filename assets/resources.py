"""The project's home directory and profile, as a Dagster resource."""


import os
from pathlib import Path

import dagster as dg
from pydantic import create_model

from pipeline.home import DEFAULT_HOME, HOME_ENV, HomeLayout
from pipeline.sources.registry import FOLDER_KINDS

PROFILES = ("sample", "paper")


class _MavpHome(dg.ConfigurableResource):
    """Where everything lives (``MAVP_HOME``, default ``.mavp``) and which profile runs.

    ``sample`` reads the synthetic sources the graph writes under ``home/sources/sample``;
    ``paper`` reads the real dataset directories given here: one ``<kind>_dir`` per source of
    the registry (``mepave_dir``, ``fashionai_dir``, ...) and ``mepave_images_dir``.
    """

    home: str = os.environ.get(HOME_ENV) or DEFAULT_HOME
    profile: str = "sample"

    @property
    def layout(self) -> HomeLayout:
        """Every path under the home: read and write through this, never by hand."""
        return HomeLayout(self.home)

    def source_dir(self, kind: str) -> Path:
        """The directory a reader takes for ``kind`` under the active profile."""
        if self.profile not in PROFILES:
            raise dg.Failure(f"unknown profile {self.profile!r}; expected one of {PROFILES}")
        if kind not in FOLDER_KINDS:
            raise dg.Failure(f"unknown source folder {kind!r}; expected one of {FOLDER_KINDS}")
        if self.profile == "sample":
            return self.layout.sample.source_dir(kind)
        configured = getattr(self, f"{kind}_dir")
        if not configured:
            raise dg.Failure(f"profile 'paper' needs {kind}_dir set on the mavp_home resource")
        return Path(configured)


# One folder setting per source of the registry, so a new source needs no edit here.
MavpHome = create_model("MavpHome", __base__=_MavpHome, __module__=__name__,
                        **{f"{kind}_dir": (str, "") for kind in FOLDER_KINDS})
MavpHome.__doc__ = _MavpHome.__doc__
