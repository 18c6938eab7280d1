"""Peak memory of a computation on any device: the bytes of the tensor storages it creates, while they live."""

from __future__ import annotations

import weakref
from collections import defaultdict

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveTensors(TorchDispatchMode):
    """Counts the bytes of every tensor storage created by aten ops (forward and backward) while they live:
    the peak of the live total and the largest single storage. Storages that existed before are not counted."""

    def __init__(self, existing: set[int]) -> None:
        super().__init__()
        self.existing, self.sizes, self.refs = existing, {}, defaultdict(int)
        self.current = self.peak = self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self.track(tensor)
        return out

    def track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self.sizes:
            if key in self.existing:
                return
            self.sizes[key] = storage.nbytes()
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
            self.largest = max(self.largest, storage.nbytes())
        self.refs[key] += 1
        weakref.finalize(tensor, self.release, key)

    def release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.current -= self.sizes.pop(key)
