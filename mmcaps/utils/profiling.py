"""Memory measurement on the CPU."""
from typing import Callable

from torch.profiler import ProfilerActivity, profile

__all__ = ['peak_cpu_allocated']


def peak_cpu_allocated(fn: Callable[[], None]) -> int:
    """Peak of the CPU memory torch allocates while ``fn`` runs, in bytes,
    above what was allocated when it started: the CPU's counterpart of
    ``torch.cuda.max_memory_allocated`` after a reset.

    Replays the allocation and free records of ``torch.profiler``
    (``profile_memory=True``) in time order, so memory freed before ``fn``
    returns counts only while it was live, and tensors from before ``fn``
    that it frees lower the count. Unlike the process's peak RSS, this
    does not depend on what the C allocator keeps or returns to the
    system, nor on memory the process used before.
    """
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
        fn()
    records = sorted((e for e in prof.profiler.kineto_results.events()
                      if e.name() == '[memory]'),
                     key=lambda e: e.start_ns())
    live = peak = 0
    for record in records:
        live += record.nbytes()
        peak = max(peak, live)
    return peak
