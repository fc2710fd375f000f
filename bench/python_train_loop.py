#!/usr/bin/env python3
"""The baseline for `./run bench`: seed-cnn trained by a plain PyTorch loop, as the source article's
script does it (nn.Module, Adam, a Python loop over shuffled batches), on the same MNIST files, batch
and thread count as `digitlab train`. Prints images/s. Uses Debian's python3-torch."""
import argparse, gzip, os, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class SeedCnn(nn.Module):  # the article's network; same layers as digitlab's seed-cnn preset
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--images", type=int, default=12800)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    name = "train-images-idx3-ubyte"
    path = os.path.join(a.data, name + ".gz") if os.path.exists(os.path.join(a.data, name + ".gz")) else os.path.join(a.data, name)
    x = torch.from_numpy(read_idx(path)[: a.images].copy()).float().div_(255).unsqueeze(1)
    lpath = path.replace("train-images-idx3", "train-labels-idx1")
    y = torch.from_numpy(read_idx(lpath)[: a.images].astype(np.int64))
    x = (x - 0.1307) / 0.3081
    model = SeedCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), a.batch):
        idx = perm[i:i + a.batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    secs = time.perf_counter() - start
    print(f"python loop: {len(x)} images in {secs:.2f} s = {len(x) / secs:.0f} img/s "
          f"(torch {torch.__version__}, {a.threads} threads, batch {a.batch})")


if __name__ == "__main__":
    main()
