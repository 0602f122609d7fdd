"""Cross-entropy of a linear layer without materialising all logits.

The token head ends in ``Linear(d_model -> vocab)``; with 19,564 k-mer tokens
the logits of one CPU batch take hundreds of MB, allocated and freed at every
step. This computes the loss and both gradients chunk by chunk in the forward
pass (softmax minus one-hot, times the inputs or the weight), so only one
chunk of logits exists at a time. The result equals ``F.cross_entropy(x @ W.T, y)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK_TOKENS = 256  # on a CPU: 256 x 19,564 fp32 logits = 20 MB per chunk (64 was 30 % slower, 512-2,048 8-16 %)
GPU_CHUNK_BYTES = 2**30  # on a GPU: chunks of up to 1 GiB of fp32 logits (0.1B model on an H200: 256-token
# chunks 303k tokens/s, 1,024 351k, 4,096 366k, the whole batch of 16,384 380k; kernel launches dominate small ones)


def chunk_tokens(device: torch.device, vocab_size: int) -> int:
    """Tokens per chunk of logits: small on a CPU (cache-friendly), large on a GPU (few launches)."""
    if device.type == "cpu":
        return CHUNK_TOKENS
    return max(CHUNK_TOKENS, GPU_CHUNK_BYTES // (4 * vocab_size))


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, compute_dtype: torch.dtype):
        n, chunk = x.shape[0], chunk_tokens(x.device, weight.shape[0])
        w = weight.to(compute_dtype)
        grad_x = torch.empty_like(x)
        grad_w = torch.zeros_like(weight, dtype=torch.float32)
        total = torch.zeros((), dtype=torch.float32, device=x.device)
        for start in range(0, n, chunk):
            xs = x[start : start + chunk].to(compute_dtype)
            ys = target[start : start + chunk]
            logits = (xs @ w.T).float()
            target_logit = logits.gather(1, ys[:, None])
            peak = logits.amax(dim=-1, keepdim=True)
            probs = logits.sub_(peak).exp_()  # in place: one chunk of logits is all the memory used
            norm = probs.sum(dim=-1, keepdim=True)
            total += (norm.log() + peak - target_logit).sum()
            probs.div_(norm)  # d(loss_i)/d(logits_i) = softmax - one-hot
            probs.scatter_add_(1, ys[:, None], torch.full_like(norm, -1.0))
            probs = probs.to(compute_dtype)
            grad_x[start : start + chunk] = (probs @ w).to(x.dtype)
            grad_w += (probs.T @ xs).float()
        ctx.save_for_backward(grad_x, grad_w)
        ctx.n = n
        return total / n

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_x, grad_w = ctx.saved_tensors
        scale = grad_out / ctx.n
        return grad_x * scale.to(grad_x.dtype), (grad_w * scale).to(grad_w.dtype), None, None


def linear_cross_entropy(x: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean ``cross_entropy(x @ weight.T, target)`` for ``x [N, D]``, ``weight [V, D]``, ``target [N]``.

    Under autocast the products run in the autocast dtype, the softmax in float32.
    """
    if x.shape[0] == 0:
        raise ValueError("linear_cross_entropy needs at least one target")
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32
    with torch.autocast(device, enabled=False):
        if not torch.is_grad_enabled() or not (x.requires_grad or weight.requires_grad):
            return F.cross_entropy((x.to(dtype) @ weight.to(dtype).T).float(), target)
        return _LinearCrossEntropy.apply(x, weight, target, dtype)
