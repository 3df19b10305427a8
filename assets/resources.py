"""The project's home directory and profile, as a Dagster resource."""


import os
from pathlib import Path

import dagster as dg

from pipeline.home import DEFAULT_HOME, HOME_ENV, HomeLayout

PROFILES = ("sample", "paper")


class MavpHome(dg.ConfigurableResource):
    """Where everything lives (``MAVP_HOME``, default ``.mavp``) and which profile runs.

    ``sample`` reads the synthetic sources the graph writes under ``home/sources/sample``;
    ``paper`` reads the real dataset directories given here.
    """

    home: str = os.environ.get(HOME_ENV) or DEFAULT_HOME
    profile: str = "sample"
    mepave_dir: str = ""
    mepave_images_dir: str = ""
    fashionai_dir: str = ""
    utzap50k_dir: str = ""
    ifashion_dir: str = ""
    crawl_dir: str = ""

    @property
    def layout(self) -> HomeLayout:
        """Every path under the home: read and write through this, never by hand."""
        return HomeLayout(self.home)

    def source_dir(self, kind: str) -> Path:
        """The directory a reader takes for ``kind`` under the active profile."""
        if self.profile not in PROFILES:
            raise dg.Failure(f"unknown profile {self.profile!r}; expected one of {PROFILES}")
        if self.profile == "sample":
            layout = self.layout.sample
            return {
                "mepave": layout.mepave_dir,
                "mepave_images": layout.mepave_images,
                "fashionai": layout.fashionai_root,
                "utzap50k": layout.utzap50k_root,
                "ifashion": layout.ifashion_root,
                "crawl": layout.crawl_root,
            }[kind]
        configured = getattr(self, f"{kind}_dir")
        if not configured:
            raise dg.Failure(f"profile 'paper' needs {kind}_dir set on the mavp_home resource")
        return Path(configured)
