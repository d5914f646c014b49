"""Training throughput: mlx's networks against PyTorch on the same data, architecture,
optimizer, batch size and threads (bench/neural/run.sh calls this).

    peer.py <work dir> <mlx neural_bench binary> <threads>

With DEVICE=cuda (bench/neural/gpu.sh) both train on the GPU: mlx with its `torch`
backend, PyTorch with the model and data on the device.

Data: 20,000 rows x 32 standardised inputs, 10 classes that depend on the inputs. The
MLP is 32 -> 128 -> 64 -> 10 (ReLU), 5 epochs; the LSTM reads each row as 16 steps of 2
inputs, 64 units, 2 epochs; both Adam (lr 0.001), batch 64, cross-entropy, shuffled.
"""

import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

work, binary, threads = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
device = os.environ.get("DEVICE", "cpu")
N, P, K, BATCH = 20_000, 32, 10, 64
rng = np.random.default_rng(0)
x = rng.normal(size=(N, P)).astype(np.float32)
w = rng.normal(size=(P, K)).astype(np.float32)
y = (np.tanh(x) @ w + 0.5 * rng.normal(size=(N, K))).argmax(1)
data = work / "neural.csv"
if not data.exists():
    header = ",".join([f"x{i}" for i in range(P)] + ["label"])
    np.savetxt(data, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.7g")


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(2, 64, batch_first=True)
        self.out = nn.Linear(64, K)

    def forward(self, v):
        h, _ = self.lstm(v.reshape(-1, 16, 2))
        return self.out(h[:, -1])


def torch_train(kind, epochs):
    torch.manual_seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(P, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, K))
    else:
        model = Lstm()
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    xs = torch.tensor((x - x.mean(0)) / x.std(0)).to(device)
    ys = torch.tensor(y).to(device)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(N, device=device).split(BATCH):
            opt.zero_grad()
            loss = loss_fn(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        acc = (model(xs).argmax(1) == ys).float().mean().item()
    return seconds, N * epochs / seconds, loss.item(), acc


def peak_mib_of_this_process():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


for kind, epochs in [("mlp", 5), ("lstm", 2)]:
    cmd = [binary, kind, str(data), str(epochs), str(BATCH)]
    if device != "cpu":
        cmd.append(f"torch:{device}")
    timed = shutil.which("time") is not None and os.path.exists("/usr/bin/time")
    if timed:
        cmd = ["/usr/bin/time", "-f", "%M"] + cmd
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    run = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    mlx = json.loads(run.stdout.strip().splitlines()[-1])
    if timed:
        mlx_peak = int(run.stderr.strip().splitlines()[-1]) / 1024
    else:  # the largest child so far
        mlx_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t_sec, t_rate, t_loss, t_acc = torch_train(kind, epochs)
    print(f"{kind}: {epochs} epochs of {N} rows, batch {BATCH}, {threads} threads, {device}")
    print(f"  mlx     {mlx['seconds']:7.2f} s  {mlx['samples_per_s']:9.0f} samples/s  peak {mlx_peak:6.0f} MiB  train accuracy {mlx['train_accuracy']:.3f}")
    print(f"  PyTorch {t_sec:7.2f} s  {t_rate:9.0f} samples/s  peak {peak_mib_of_this_process():6.0f} MiB (whole Python process)  train accuracy {t_acc:.3f}  ({torch.__version__})")
    print(f"  ratio: mlx trains at {mlx['samples_per_s'] / t_rate:.2f}x PyTorch's samples/s")
