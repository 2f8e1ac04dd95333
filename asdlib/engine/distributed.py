"""Multi-GPU training that keeps the recipe: the global batch exact, BatchNorm over the global batch.

Under ``torchrun`` every process trains on ``batch_size / world`` clips of each global batch.
``per_process_batch`` refuses a world size that does not divide the batch (64 clips on 3 GPUs
would silently become 63). ``sync_batchnorm`` makes every BatchNorm layer compute its batch
statistics over all processes (``train.sync_batchnorm = true``, the default under DDP), so it
sees the global batch as on one GPU instead of 64 / world clips: PyTorch's ``SyncBatchNorm`` on
CUDA, and ``GlobalBatchNorm`` (the same statistics, through differentiable all-reduces) on the
CPU, where PyTorch's has no implementation (gloo, the tests).
Explained in notebook 03_training (and docs/gpu.md).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce


def per_process_batch(batch_size: int, world: int, accumulate: int = 1) -> int:
    """Clips per process of each global batch; refuses a world size (or ``train.accumulate``) that does not divide the batch. Notebook 03."""
    if batch_size % world:
        raise ValueError(
            f"train.batch_size = {batch_size} does not divide over {world} processes: the global batch "
            f"would change, and with it the recipe; use a number of GPUs that divides {batch_size} "
            "(torchrun --nproc_per_node)")
    per = batch_size // world
    if per % accumulate:
        raise ValueError(f"train.accumulate = {accumulate} does not divide the {per} clips each of the "
                         f"{world} process(es) trains on per batch; choose a divisor of {per}")
    return per


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics cover the batches of every process (two all-reduces, differentiable); any backend. Notebook 03.

    The state (weight, bias, running mean and variance) has the keys of ``nn.BatchNorm*d``, so
    checkpoints load into the plain network. Outside training, or without a process group, it
    is ordinary BatchNorm.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, x):
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.tensor([float(x.numel() // x.shape[1])], device=x.device)
        count = differentiable_all_reduce(count)
        mean = differentiable_all_reduce(xf.sum(dims)) / count
        centred = xf - mean.view(shape)
        var = differentiable_all_reduce((centred * centred).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var.detach() * (count / (count - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


def sync_batchnorm(net: nn.Module, device: torch.device) -> nn.Module:
    """Make every BatchNorm of ``net`` use the statistics of the global batch: PyTorch's SyncBatchNorm on CUDA, ``GlobalBatchNorm`` elsewhere. Notebook 03."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return _convert(net)


def _convert(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                new.weight.copy_(module.weight)
                new.bias.copy_(module.bias)
        if module.track_running_stats:
            new.running_mean.copy_(module.running_mean)
            new.running_var.copy_(module.running_var)
            new.num_batches_tracked.copy_(module.num_batches_tracked)
        new.train(module.training)
        return new.to(module.running_mean.device if module.track_running_stats else "cpu")
    for name, child in module.named_children():
        setattr(module, name, _convert(child))
    return module

