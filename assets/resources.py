"""The project's home directory and profile, as a Dagster resource."""


import os
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import create_model

from pipeline.home import DEFAULT_HOME, HOME_ENV, HomeLayout
from pipeline.profiles import KINDS as PROFILES, active_profile
from pipeline.sources.registry import FOLDER_KINDS


class _MavpHome(dg.ConfigurableResource):
    """Where everything lives (``MAVP_HOME``, default ``.mavp``) and which profile runs.

    ``sample`` reads the synthetic sources the graph writes under ``home/sources/sample``;
    ``paper`` reads the real dataset directories given here: one ``<kind>_dir`` per source of
    the registry (``mepave_dir``, ``fashionai_dir``, ...) and ``mepave_images_dir``. Their
    defaults come from the active profile's file (``MAVP_PROFILE``, see pipeline.profiles).
    """

    home: str = os.environ.get(HOME_ENV) or DEFAULT_HOME
    profile: str = active_profile().name

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
            raise dg.Failure(f"profile 'paper' needs sources.{kind} in {active_profile().path} "
                             f"(or {kind}_dir on the mavp_home resource)")
        return Path(configured)


    def source_dirs(self) -> dict[str, Path]:
        """Every source folder the active profile names (a paper profile may leave some unset)."""
        dirs = {}
        for kind in FOLDER_KINDS:
            try:
                dirs[kind] = self.source_dir(kind)
            except dg.Failure:
                continue
        return dirs

    def sample_truth(self, columns: list[str] | None = None) -> pd.DataFrame | None:
        """The generator's truth (sample profile), or None where there is none."""
        path = self.layout.sample.truth
        return pd.read_parquet(path, columns=columns) if self.profile == "sample" and path.is_file() else None


# One folder setting per source of the registry, so a new source needs no edit here.
MavpHome = create_model("MavpHome", __base__=_MavpHome, __module__=__name__,
                        **{f"{kind}_dir": (str, str(active_profile().sources.get(kind, ""))) for kind in FOLDER_KINDS})
MavpHome.__doc__ = _MavpHome.__doc__
