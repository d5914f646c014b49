"""Records PyTorch's values and gradients of the losses mlx trains networks with, on
fixed inputs stored beside them: BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, L1Loss,
HuberLoss, TripletMarginLoss, torchvision's sigmoid_focal_loss (written out here with
torch operations, as torchvision defines it), the multi-class focal loss, log-cosh and
the contrastive loss of Hadsell et al. (2006), in float64.

    -> tests/fixtures/neural/losses.json

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
rng = np.random.default_rng(12)
N, K, E = 16, 4, 5

out1 = rng.normal(0, 2, (N, 1))
target = rng.normal(0, 2, (N, 1))
binary = rng.integers(0, 2, (N, 1)).astype(float)
logits = rng.normal(0, 2, (N, K))
codes = rng.integers(0, K, N)
emb = rng.normal(0, 1, (3, N, E))
same = rng.integers(0, 2, N).astype(float)


def run(fn, *inputs):
    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    loss = fn(*xs)
    loss.backward()
    return {"value": loss.item(), "grad": [x.grad.numpy().tolist() for x in xs]}


def sigmoid_focal(z, y, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean()


def focal_k(z, alpha=1.0, gamma=2.0):
    log_pt = F.log_softmax(z, dim=1).gather(1, torch.tensor(codes).unsqueeze(1))
    return (-alpha * (1 - log_pt.exp()) ** gamma * log_pt).mean()


def contrastive(a, b, margin=1.0):
    d = F.pairwise_distance(a, b)
    s = torch.tensor(same)
    return (0.5 * (s * d**2 + (1 - s) * torch.clamp(margin - d, min=0) ** 2)).mean()


y = torch.tensor(target)
yb = torch.tensor(binary)
cases = {
    "mse": run(lambda o: F.mse_loss(o, y), out1),
    "mae": run(lambda o: F.l1_loss(o, y), out1),
    "huber": run(lambda o: F.huber_loss(o, y, delta=1.0), out1),
    "huber_0.5": run(lambda o: F.huber_loss(o, y, delta=0.5), out1),
    "log_cosh": run(lambda o: torch.log(torch.cosh(o - y)).mean(), out1),
    "bce": run(lambda z: F.binary_cross_entropy_with_logits(z, yb), out1),
    "focal": run(lambda z: sigmoid_focal(z, yb), out1),
    "focal_unweighted": run(lambda z: sigmoid_focal(z, yb, alpha=-1, gamma=1.5), out1),
    "ce": run(lambda z: F.cross_entropy(z, torch.tensor(codes)), logits),
    "focal_k": run(focal_k, logits),
    "contrastive": run(contrastive, emb[0], emb[1]),
    "triplet": run(
        lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=1.0), emb[0], emb[1], emb[2]
    ),
}
fixture = {
    "torch": torch.__version__,
    "inputs": {
        "out": out1.tolist(),
        "target": target.tolist(),
        "binary": binary.tolist(),
        "logits": logits.tolist(),
        "codes": codes.tolist(),
        "embeddings": emb.tolist(),
        "same": same.tolist(),
    },
    "cases": cases,
}
path = ROOT / "tests/fixtures/neural/losses.json"
path.write_text(json.dumps(fixture, indent=1) + "\n")
print(f"wrote {path}")
