#!/usr/bin/env python3
"""Exports a digitlab model file to ONNX for the browser benchmark's ONNX Runtime Web column.

The route is the one a PyTorch user takes: build a torch.nn module with the same layers, load our
weights into it, call torch.onnx.export. The layers come from the architecture JSON stored in the
file's metadata and the weights from its tensors, read straight from the safetensors format (8-byte
little-endian header length, JSON header, raw little-endian data), so no `safetensors` or `onnx`
pip package is needed: Debian's python3-torch (1.13) is enough.

Input of the exported graph: "pixels" (batch, 1, 28, 28) in [0, 1]; the model's normalisation is
applied inside, as our engine does. Output: "logits" (batch, 10). The batch axis is dynamic.

Usage: export_onnx.py MODEL.safetensors OUT.onnx
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = data[8 + header_len:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']} (only F32 is written by digitlab)")
        start, end = info["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(body[start:end], dtype="<f4").reshape(info["shape"]).copy())
    return tensors, metadata


def build_layer(spec):
    kind = spec["type"]
    if kind == "conv2d":
        return nn.Conv2d(spec["in"], spec["out"], spec["kernel"], stride=spec["stride"], padding=spec["padding"],
                         dilation=spec["dilation"], groups=spec["groups"], bias=spec["bias"])
    if kind == "batch_norm2d":
        return nn.BatchNorm2d(spec["features"], eps=spec["eps"])
    if kind == "relu":
        return nn.ReLU()
    if kind == "max_pool2d":
        return nn.MaxPool2d(spec["kernel"], spec["stride"])
    if kind == "global_avg_pool":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "flatten":
        return nn.Flatten()
    if kind == "linear":
        return nn.Linear(spec["in"], spec["out"])
    if kind == "dropout":
        return nn.Dropout(spec["p"])
    raise ValueError(f"layer type {kind} has no torch.nn counterpart here")


class DigitlabNet(nn.Module):
    def __init__(self, arch, norm):
        super().__init__()
        self.mean, self.std = float(norm["mean"]), float(norm["std"])
        # Registered under the layer's own name (conv1, bn1, fc, ...) so the state dict keys are the
        # tensor names of the weight file.
        self.names = []
        for i, spec in enumerate(arch["layers"]):
            name = spec.get("name") or f"_{spec['type']}{i}"
            self.add_module(name, build_layer(spec))
            self.names.append(name)

    def forward(self, pixels):
        x = (pixels - self.mean) / self.std
        for name in self.names:
            x = getattr(self, name)(x)
        return x


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tensors, metadata = read_safetensors(sys.argv[1])
    arch = json.loads(metadata["architecture"])
    net = DigitlabNet(arch, json.loads(metadata["normalization"]))
    state = net.state_dict()
    # Batch norm's step counter is PyTorch bookkeeping that our files do not carry.
    missing = [k for k in state if k not in tensors and not k.endswith("num_batches_tracked")]
    unknown = [k for k in tensors if k not in state]
    if missing or unknown:
        sys.exit(f"weights do not fit the architecture: missing {missing}, unknown {unknown}")
    net.load_state_dict(tensors, strict=False)
    net.eval()
    c, h, w = arch["input"]
    torch.onnx.export(net, torch.zeros(1, c, h, w), sys.argv[2], input_names=["pixels"], output_names=["logits"],
                      dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    print(f"{sys.argv[2]}: {arch['name']} exported from {sys.argv[1]} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
