#!/usr/bin/env bash
# The source articles' "pretrain a larger model, then fine-tune" idea, measured honestly: pretrain on
# Fashion-MNIST (Debian's dataset-fashion-mnist), fine-tune all layers on the first 1,000 MNIST training
# digits, and compare with training the same architecture from scratch on the same 1,000 digits.
# Usage: bench/transfer_fashion.sh DIGITLAB_BINARY OUT_DIR [ARCH]
set -euo pipefail
bin="$1"; out="$2"; arch="${3:-digitlab-cnn}"
fashion=/usr/share/datasets/fashion-mnist
[[ -f "$fashion/train-images-idx3-ubyte.gz" ]] || { echo "Fashion-MNIST not found in $fashion (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
mkdir -p "$out"
small=(--limit 1000 --val 0 --epochs 40 --batch 64 --lr 1e-3)
acc() { "$bin" inspect "$1" | sed -n 's/^test_accuracy: //p'; }

"$bin" train --arch "$arch" --data "$fashion" --epochs 10 --val 0 --out "$out/fashion.safetensors" | grep -E '^epoch|^test accuracy'
"$bin" train --arch "$arch" "${small[@]}" --init "$out/fashion.safetensors" --reset-head --out "$out/transfer.safetensors" | grep '^test accuracy'
"$bin" train --arch "$arch" "${small[@]}" --out "$out/scratch.safetensors" | grep '^test accuracy'
echo
echo "| $arch, 1,000 MNIST training digits | MNIST test accuracy |"
echo "| --- | ---: |"
echo "| from scratch | $(acc "$out/scratch.safetensors") |"
echo "| pretrained on Fashion-MNIST (60,000 images, 10 epochs), then fine-tuned | $(acc "$out/transfer.safetensors") |"
echo "| (the Fashion-MNIST model on its own test set) | $(acc "$out/fashion.safetensors") |"
