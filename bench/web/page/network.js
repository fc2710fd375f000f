// One description of a digitlab model for every peer: the architecture JSON from the file's metadata
// reduced to a chain of ops (conv + optional relu, max pool, global average pool, flatten, dense),
// with batch norm folded into the convolution before it, exactly as our engine does at load.
// Weights stay in PyTorch's layouts here: conv (out, in, kh, kw), linear (out, in); each engine
// builder converts them to its own layout.
import { parseSafetensors } from './safetensors.js';

function foldBatchNorm(conv, bn, eps) {
  const out = conv.shape[0], perOut = conv.data.length / out;
  const weight = new Float32Array(conv.data.length), bias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = bn.weight[o] / Math.sqrt(bn.running_var[o] + eps);
    for (let i = 0; i < perOut; i++) weight[o * perOut + i] = conv.data[o * perOut + i] * scale;
    bias[o] = ((conv.bias ? conv.bias[o] : 0) - bn.running_mean[o]) * scale + bn.bias[o];
  }
  return { weight, bias };
}

// -> { name, mean, std, input: [c, h, w], ops: [...], headStart } where ops are
//   { kind: 'conv', out, in, kernel, padding, stride, weight, bias, relu, outShape }
//   { kind: 'maxpool', kernel, stride, outShape } | { kind: 'gap', outShape } | { kind: 'flatten', outShape }
//   { kind: 'dense', in, out, weight, bias, relu, outShape } | { kind: 'dropout', p, outShape }
// shapes are [c, h, w]; headStart is the index of the first op of the classifier head (the trailing
// dense / relu / dropout / flatten run, as head_start() in tail_trainer.h).
export function describeNetwork(buffer) {
  const { tensors, metadata } = parseSafetensors(buffer);
  const arch = JSON.parse(metadata.architecture);
  const norm = JSON.parse(metadata.normalization);
  const t = (name) => { if (!tensors[name]) throw new Error(`missing tensor ${name}`); return tensors[name]; };
  let [c, h, w] = arch.input;
  const ops = [];
  for (let i = 0; i < arch.layers.length; i++) {
    const L = arch.layers[i];
    if (L.type === 'conv2d') {
      if (L.groups !== 1 || L.dilation !== 1) throw new Error(`${L.name}: only plain convolutions are benchmarked`);
      let weight = t(`${L.name}.weight`).data, bias = L.bias ? t(`${L.name}.bias`).data : new Float32Array(L.out);
      const next = arch.layers[i + 1];
      if (next && next.type === 'batch_norm2d') {
        const bn = {};
        for (const k of ['weight', 'bias', 'running_mean', 'running_var']) bn[k] = t(`${next.name}.${k}`).data;
        ({ weight, bias } = foldBatchNorm({ shape: [L.out], data: weight, bias: L.bias ? bias : null }, bn, next.eps));
        i++;
      }
      h = Math.floor((h + 2 * L.padding - L.kernel) / L.stride) + 1;
      w = Math.floor((w + 2 * L.padding - L.kernel) / L.stride) + 1;
      c = L.out;
      ops.push({ kind: 'conv', in: L.in, out: L.out, kernel: L.kernel, padding: L.padding, stride: L.stride,
        weight, bias, relu: false, outShape: [c, h, w] });
    } else if (L.type === 'relu') {
      const prev = ops[ops.length - 1];
      if (!prev || (prev.kind !== 'conv' && prev.kind !== 'dense')) throw new Error('relu must follow a conv or dense layer here');
      prev.relu = true;
    } else if (L.type === 'max_pool2d') {
      h = Math.floor((h - L.kernel) / L.stride) + 1;
      w = Math.floor((w - L.kernel) / L.stride) + 1;
      ops.push({ kind: 'maxpool', kernel: L.kernel, stride: L.stride, outShape: [c, h, w] });
    } else if (L.type === 'global_avg_pool') {
      h = w = 1;
      ops.push({ kind: 'gap', outShape: [c, 1, 1] });
    } else if (L.type === 'flatten') {
      c = c * h * w; h = w = 1;
      ops.push({ kind: 'flatten', outShape: [c, 1, 1] });
    } else if (L.type === 'linear') {
      c = L.out;
      ops.push({ kind: 'dense', in: L.in, out: L.out, weight: t(`${L.name}.weight`).data,
        bias: t(`${L.name}.bias`).data, relu: false, outShape: [c, 1, 1] });
    } else if (L.type === 'dropout') {
      ops.push({ kind: 'dropout', p: L.p, outShape: [c, h, w] });
    } else {
      throw new Error(`layer type ${L.type} is not part of the benchmark's layer set`);
    }
  }
  let headStart = ops.length;
  while (headStart > 0 && ['dense', 'dropout', 'flatten'].includes(ops[headStart - 1].kind)) headStart--;
  return { name: arch.name, mean: norm.mean, std: norm.std, input: arch.input, ops, headStart };
}

// A dense layer that follows a flatten of a (c, h, w) map reads PyTorch's channel-major order;
// channels-last engines (tfjs, ConvNetJS) flatten (h, w, c). Same weights, inputs reordered.
export function denseWeightsForChannelsLast(weight, out, [c, h, w]) {
  const r = new Float32Array(weight.length), n = c * h * w;
  for (let o = 0; o < out; o++)
    for (let ci = 0; ci < c; ci++)
      for (let p = 0; p < h * w; p++) r[o * n + p * c + ci] = weight[o * n + ci * h * w + p];
  return r;
}

export function normalise(pixels, mean, std) {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] - mean) / std;
  return out;
}
