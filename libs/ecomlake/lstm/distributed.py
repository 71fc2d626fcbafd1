"""``Comm``: what the training loop needs from a distributed backend, over Horovod or torch.distributed.

One training loop (``ecomlake.lstm.train``) serves both launcher families: Horovod's (``horovod.spark.run``,
``horovodrun``) and Spark's ``TorchDistributor`` (torchrun underneath). The loop only ever asks a ``Comm`` to
wrap the model and optimizer for gradient averaging, broadcast rank 0's initial state, sum a few numbers over
ranks, broadcast a small object, wait at a barrier and shut down.

- ``HorovodComm``: ``hvd.init()``; ``hvd.DistributedOptimizer`` averages gradients; parameters broadcast with
  ``hvd.broadcast_parameters``. (Horovod 0.28.1's ``DistributedOptimizer.zero_grad(set_to_none=...)`` raises,
  horovod#3405: the loop calls ``zero_grad()`` without arguments.)
- ``TorchComm``: ``init_process_group`` from the env torchrun sets (``MASTER_ADDR``, ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``), NCCL on CUDA and Gloo otherwise; DistributedDataParallel averages gradients and broadcasts
  rank 0's parameters when it wraps the model.

Both put a process on GPU ``local_rank`` when ``use_gpu`` is set and CUDA is available, else on the CPU.
"""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

BACKENDS = ("horovod", "torch")


def pick_device(use_gpu: bool, local_rank: int) -> torch.device:
    """``cuda:<local_rank>`` when asked for and present, else the CPU."""
    if use_gpu and torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


class Comm(ABC):
    """A process's view of the training job: its rank, the world size, its device and the collectives."""

    backend: str
    rank: int
    size: int
    local_rank: int
    device: torch.device

    @abstractmethod
    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer, broadcast: bool) -> tuple[nn.Module, torch.optim.Optimizer]:
        """Wrap ``model`` (already on ``device``) and ``optimizer`` so that ``step()`` applies gradients averaged over ranks.

        With ``broadcast``, every rank starts from rank 0's parameters (a fresh run); without it, the caller
        loads the same state on every rank (a resume). Load optimizer state into the RETURNED optimizer:
        Horovod's wrapper is a new optimizer object.
        """

    @abstractmethod
    def allreduce_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over ranks (float64: row counts stay exact)."""

    def allreduce_mean(self, values: Sequence[float]) -> list[float]:
        """Element-wise means over ranks."""
        return [v / self.size for v in self.allreduce_sum(values)]

    @abstractmethod
    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        """Rank ``root``'s (picklable) object on every rank."""

    @abstractmethod
    def barrier(self) -> None:
        """Wait until every rank gets here."""

    @abstractmethod
    def shutdown(self) -> None:
        """Leave the job (idempotent)."""


class HorovodComm(Comm):
    """Horovod (Gloo or MPI controller, whatever horovod was built and launched with)."""

    backend = "horovod"

    def __init__(self, use_gpu: bool = False) -> None:
        import horovod.torch as hvd

        self._hvd = hvd
        hvd.init()
        self._alive = True
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        self.device = pick_device(use_gpu, self.local_rank)
        self._ops = 0

    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer, broadcast: bool) -> tuple[nn.Module, torch.optim.Optimizer]:
        hvd = self._hvd
        if broadcast:
            hvd.broadcast_parameters(model.state_dict(), root_rank=0)
            # Only a non-empty optimizer state is worth broadcasting: horovod initialises an empty one by an
            # optimizer step on zero gradients, which for Adam counts a step (a bias correction off by one).
            if optimizer.state_dict()["state"]:
                hvd.broadcast_optimizer_state(optimizer, root_rank=0)
        distributed = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
        return model, distributed

    def allreduce_sum(self, values: Sequence[float]) -> list[float]:
        self._ops += 1
        tensor = torch.tensor(list(values), dtype=torch.float64)
        return self._hvd.allreduce(tensor, op=self._hvd.Sum, name=f"ecomlake.sum.{self._ops}").tolist()

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        self._ops += 1
        return self._hvd.broadcast_object(obj, root_rank=root, name=f"ecomlake.obj.{self._ops}")

    def barrier(self) -> None:
        self._hvd.barrier()

    def shutdown(self) -> None:
        if self._alive:
            self._alive = False
            self._hvd.shutdown()


class TorchComm(Comm):
    """torch.distributed as torchrun (and so TorchDistributor) sets it up: NCCL on CUDA, Gloo on the CPU."""

    backend = "torch"

    def __init__(self, use_gpu: bool = False, timeout_s: float = 1800.0) -> None:
        import torch.distributed as dist

        self._dist = dist
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = pick_device(use_gpu, self.local_rank)
        self._owns_group = not dist.is_initialized()
        if self._owns_group:
            # A timeout bounds every collective: a rank that died mid-epoch fails the others instead of hanging them.
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo", timeout=dt.timedelta(seconds=timeout_s))
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer, broadcast: bool) -> tuple[nn.Module, torch.optim.Optimizer]:
        from torch.nn.parallel import DistributedDataParallel

        # DDP broadcasts rank 0's parameters when it wraps the model; a resume then loads the same state everywhere.
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=device_ids)
        if broadcast and optimizer.state_dict()["state"]:
            optimizer.load_state_dict(self.broadcast_object(optimizer.state_dict()))
        return wrapped, optimizer

    def allreduce_sum(self, values: Sequence[float]) -> list[float]:
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        self._dist.all_reduce(tensor, op=self._dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        holder = [obj if self.rank == root else None]
        self._dist.broadcast_object_list(holder, src=root, device=self.device if self.device.type == "cuda" else None)
        return holder[0]

    def barrier(self) -> None:
        if self.device.type == "cuda":
            self._dist.barrier(device_ids=[self.device.index])
        else:
            self._dist.barrier()

    def shutdown(self) -> None:
        if self._owns_group and self._dist.is_initialized():
            self._dist.destroy_process_group()


def make_comm(backend: str, use_gpu: bool = False, timeout_s: float = 1800.0) -> Comm:
    """The ``Comm`` of a backend name: ``horovod`` or ``torch``."""
    if backend == "horovod":
        return HorovodComm(use_gpu)
    if backend == "torch":
        return TorchComm(use_gpu, timeout_s)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
