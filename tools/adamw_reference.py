#!/usr/bin/env python3
"""Prints a reference AdamW trajectory from torch.optim.AdamW for tests/train/test_optimizer.cpp.

Two parameters: "w" (2x3, weight decay 0.1) and "b" (3, no weight decay: its own parameter group), three steps with
the gradients and learning rates below (every value a multiple of 1/64, so float32 holds them exactly and the C++
literals are the same numbers). betas (0.9, 0.999), eps 1e-8, torch's default foreach=False path (PyTorch 1.13,
Debian python3-torch). Prints the parameters after each step as float32 values (repr of the double they widen to,
shortest form) for pasting into the test.

Run: python3 tools/adamw_reference.py
"""
import torch

torch.set_num_threads(1)
w = torch.nn.Parameter(torch.tensor([[0.5, -0.25, 1.0], [-1.5, 0.75, 2.0]], dtype=torch.float32))
b = torch.nn.Parameter(torch.tensor([0.125, -0.5, 0.0], dtype=torch.float32))
grads = [
    ([[0.25, -0.5, 0.125], [1.0, -0.0625, 0.0]], [0.5, 0.25, -1.0]),
    ([[-0.75, 0.5, 0.375], [0.25, 0.125, -0.5]], [-0.25, 0.75, 0.5]),
    ([[0.0625, -0.125, 1.5], [-1.0, 0.5, 0.25]], [1.25, -0.5, 0.0]),
]
lrs = [0.015625, 0.03125, 0.0234375]
opt = torch.optim.AdamW([{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}],
                        lr=lrs[0], betas=(0.9, 0.999), eps=1e-8, foreach=False)
print("torch", torch.__version__)
for k, (gw, gb) in enumerate(grads):
    for group in opt.param_groups:
        group["lr"] = lrs[k]
    w.grad = torch.tensor(gw, dtype=torch.float32)
    b.grad = torch.tensor(gb, dtype=torch.float32)
    opt.step()
    print(f"step {k + 1}:")
    print("  w:", ", ".join(repr(float(x)) for x in w.detach().flatten().tolist()))
    print("  b:", ", ".join(repr(float(x)) for x in b.detach().flatten().tolist()))
