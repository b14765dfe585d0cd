"""The peer of bench/train_throughput.cc: the same model, data shapes, batch, optimizer, clipping,
thread count and device as orchard-train, written in plain PyTorch (eager). Prints
`samples_per_second=<value>`."""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


class Mlp(torch.nn.Module):
    def __init__(self, inputs, hidden, outputs):
        super().__init__()
        layers, width = [], inputs
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        self.body = torch.nn.Sequential(*layers, torch.nn.Linear(width, outputs))

    def forward(self, x):
        return self.body(x.flatten(1))


class Block(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.qkv, self.proj = torch.nn.Linear(width, 3 * width), torch.nn.Linear(width, width)
        self.fc1, self.fc2 = torch.nn.Linear(width, 4 * width), torch.nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, w = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, w))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Transformer(torch.nn.Module):
    def __init__(self, layers, heads, width, context):
        super().__init__()
        self.tokens, self.positions = torch.nn.Embedding(256, width), torch.nn.Embedding(context, width)
        self.blocks = torch.nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.norm, self.head = torch.nn.LayerNorm(width), torch.nn.Linear(width, 256)

    def forward(self, x):
        x = self.tokens(x) + self.positions(torch.arange(x.shape[1], device=x.device))
        return self.head(self.norm(self.blocks(x)))


def main():
    cfg = json.loads(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(cfg["threads"])
    n, batch, steps = cfg["samples"], cfg["batch_size"], cfg["steps"]
    if cfg["model"] == "mlp":
        model = Mlp(cfg["features"], cfg["hidden"], cfg["classes"])
        inputs, targets = torch.randn(n, cfg["features"]), torch.randint(0, cfg["classes"], (n,))
        loss_fn = lambda out, y: F.cross_entropy(out, y)
    else:
        model = Transformer(cfg["layers"], cfg["heads"], cfg["width"], cfg["context"])
        windows = torch.randint(0, 256, (n, cfg["context"] + 1))
        inputs, targets = windows[:, :-1].contiguous(), windows[:, 1:].contiguous()
        loss_fn = lambda out, y: F.cross_entropy(out.reshape(-1, 256), y.reshape(-1))
    device = torch.device(cfg.get("device", "cpu"))
    model, inputs, targets = model.to(device), inputs.to(device), targets.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01)
    # Like orchard-train, the loss reaches the host once per log interval (1/20 of the run), never
    # every step, and the first step (allocations, thread start) is left out of the time.
    log_interval = max(1, steps // 20)
    order, position, started = torch.randperm(n, device=device), 0, None
    for step in range(steps):
        if step == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        if position + batch > n:
            order, position = torch.randperm(n, device=device), 0
        index = order[position:position + batch]
        position += batch
        lr = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs[index]), targets[index])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        if (step + 1) % log_interval == 0 or step + 1 == steps:
            loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    measured = time.perf_counter() - started
    print(f"samples_per_second={batch * (steps - 1) / measured:.1f}")


if __name__ == "__main__":
    main()
