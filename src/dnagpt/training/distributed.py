"""One process or many: the same training code under ``torchrun``.

``torchrun --nproc_per_node N -m dnagpt.cli pretrain ...`` sets ``RANK`` and
``WORLD_SIZE``; then each process takes its own micro-batches, gradients are
averaged by DistributedDataParallel (or the parameters are sharded with FSDP
for models that do not fit one device), and only rank 0 writes files.
Backends: NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..device import resolve_device
from ..errors import ConfigError


def is_main_process() -> bool:
    """Whether this process is the one that writes reports and files: always in a plain run, rank 0
    under ``torchrun`` (read from the environment, so it answers before any process group starts)."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls, device: str = "auto") -> DistributedContext:
        """Read torchrun's variables and start the process group if there are several processes."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        dev = resolve_device(device, local)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        return cls(rank, world, local, dev)

    def wrap(self, module: nn.Module, fsdp: bool = False) -> nn.Module:
        """DDP (or FSDP with ``fsdp=True``) around ``module`` when distributed."""
        if not self.distributed:
            if fsdp:
                raise ConfigError("FSDP needs several processes: start with torchrun --nproc_per_node N")
            return module
        if fsdp:
            from torch.distributed.fsdp import fully_shard  # slow to import (~0.8 s): only FSDP runs need it

            for block in getattr(module, "model", module).transformer.h:
                fully_shard(block)
            return fully_shard(module)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # find_unused_parameters: a task may leave a head unused (pretraining never embeds numbers).
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def maybe_no_sync(self, module: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
        """Skip the gradient all-reduce on micro-batches before the last one."""
        if not sync and hasattr(module, "no_sync"):
            return module.no_sync()
        return contextlib.nullcontext()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average logged numbers over processes."""
        if not self.distributed or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {k: float(v) / self.world_size for k, v in zip(keys, t.tolist(), strict=True)}

    def gather(self, value: object) -> list:
        """``value`` of every process, in rank order (a one-item list for one process)."""
        if not self.distributed:
            return [value]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    # State dicts: plain for one process; gathered full state dicts when distributed.
    def full_state_dict(self, model: nn.Module) -> dict:
        if not self.distributed:
            return {k: v.detach().cpu() for k, v in model.state_dict().items()}
        # slow to import (~0.8 s): only distributed runs need it
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def optimizer_state_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
        if not self.distributed:
            return optimizer.state_dict()
        # slow to import (~0.8 s): only distributed runs need it
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(
            model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )

    def load_full_state_dict(self, model: nn.Module, state: dict) -> None:
        if not self.distributed:
            model.load_state_dict(state)
            return
        # slow to import (~0.8 s): only distributed runs need it
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))

    def load_optimizer_state_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
        if not self.distributed:
            optimizer.load_state_dict(state)
            return
        # slow to import (~0.8 s): only distributed runs need it
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        # strict=False: a parameter that never had a gradient (the number embedding in pretraining) has
        # no optimizer state to restore, and that is right, not damage
        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True, strict=False))

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
