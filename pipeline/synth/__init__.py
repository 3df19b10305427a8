"""The synthetic world: every MAVP source in its real on-disk format, sized by one knob.

Public API::

    from pipeline.synth import generate_sample, SampleLayout
    manifest = generate_sample(out_dir, seed=0, scale=1.0)
    layout = SampleLayout(out_dir)      # where each source's files are

Modules: :mod:`.draw` (pictures), :mod:`.text` (sentences), :mod:`.world` (products and their
true values), :mod:`.mepave` and :mod:`.vision` (the five sources' writers with their bad
records), :mod:`.imagefiles` (encoding and broken files), :mod:`.generate` (orchestration and
atomic publishing), :mod:`.bench` (images per second).
"""

from pipeline.synth.generate import GENERATOR_VERSION, generate_sample
from pipeline.synth.layout import SampleLayout

__all__ = ["GENERATOR_VERSION", "generate_sample", "SampleLayout"]
