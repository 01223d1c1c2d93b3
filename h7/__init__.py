"""H7: a kernel-level behavioural sensor for AI-agent processes.

The public API is what this module exports; everything in underscored
modules, and the internals of the subpackages, may change without notice.
The pipeline reads straight from the layout::

    bpf/            kernel programs (CO-RE) and the shared record layout
    h7/sensor/      libbpf loader, scope seeding, ring-buffer drain
    h7/decode.py    raw records -> numpy arrays / event dicts
    h7/batch.py     one interval of decoded activity
    h7/detect/      baseline, engine and the five channels
    h7/alert.py     a channel's verdict
    h7/cal/         signed, chained .cal certificates
    h7/sink/        the local sinkhole and its outputs
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["SequenceModel", "__version__"]


def __getattr__(name: str) -> object:
    # Lazy so that `import h7` stays cheap for the CLI and for the kernel-only paths.
    if name == "SequenceModel":
        from h7.detect.sequence import SequenceModel

        return SequenceModel
    raise AttributeError(f"module 'h7' has no attribute {name!r}")
