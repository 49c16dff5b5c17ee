"""Float32 buffers for captured weights, reused once the capture that held them is released.

The first write to fresh memory costs a page fault per page. At 512 tokens the embedded
model's weights take 75 MB, and mapping that much fresh memory took 17 ms on the 2-core
benchmark machine, a sixth of a whole forward pass. numpy's default of transparent huge
pages for large arrays was far worse there (about 190 ms, median of 8), so buffers come from
torch's allocator instead. When every array that views a buffer is gone, the buffer goes
back to a small pool, and the next capture of the same size writes into mapped memory.
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import torch

# Bytes of idle buffers kept for reuse. Beyond it, the oldest idle buffers are freed.
IDLE_LIMIT_BYTES = 256 * 1024**2
# A pooled buffer is lent only for a request of at least this fraction of its size, so a
# short capture does not pin a long capture's buffer.
MINIMUM_FILL_FRACTION = 0.5
FLOAT32_BYTES = 4


class BufferPool:
    """A thread-safe pool that lends float32 numpy arrays, whose memory returns to it when the last view is gone."""

    def __init__(self, idle_limit_bytes: int = IDLE_LIMIT_BYTES):
        self.idle_limit_bytes = idle_limit_bytes
        self._idle: list[torch.Tensor] = []
        self._lock = threading.Lock()

    def lend(self, shape: tuple[int, ...]) -> np.ndarray:
        """Return an uninitialised float32 array of ``shape``."""
        needed = math.prod(shape)
        block = self._take(needed)
        if block is None:
            block = torch.empty(max(needed, 1), dtype=torch.float32)
        array = block[:needed].view(shape).numpy()
        # ``array.base`` is the tensor behind the array's view of the block. It lives as long as
        # the array or any slice of it does.
        finalizer = weakref.finalize(array.base, self._give_back, block)
        finalizer.atexit = False
        return array

    def idle_bytes(self) -> int:
        """Return the bytes of the buffers waiting in the pool."""
        with self._lock:
            return self._idle_bytes_locked()

    def _idle_bytes_locked(self) -> int:
        return sum(block.numel() * FLOAT32_BYTES for block in self._idle)

    def _take(self, needed: int) -> torch.Tensor | None:
        with self._lock:
            fitting = [
                index for index, block in enumerate(self._idle) if block.numel() * MINIMUM_FILL_FRACTION <= needed <= block.numel()
            ]
            if not fitting:
                return None
            # Tensors compare element by element, so the chosen block is removed by position.
            return self._idle.pop(min(fitting, key=lambda index: self._idle[index].numel()))

    def _give_back(self, block: torch.Tensor) -> None:
        with self._lock:
            self._idle.append(block)
            while self._idle_bytes_locked() > self.idle_limit_bytes:
                self._idle.pop(0)


POOL = BufferPool()
