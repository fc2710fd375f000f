// ConvNetJS 0.3.0 (global `convnetjs` from convnet-min.js). Its layer set has conv (zero padding),
// max pool, fc, relu, dropout and softmax, but no batch norm and no global average pooling. Batch
// norm is folded into the conv (network.js). Global average pooling followed by the fc layer is
// linear, so it runs as one fc layer over the whole (h, w, c) map with the fc weights divided by
// h*w and repeated at every position: the same function, one layer instead of two.
// ConvNetJS computes in float64 and runs one image per forward call; a batch is a loop.
import { denseWeightsForChannelsLast, normalise } from '../network.js';

const convnetjs = globalThis.convnetjs;

function layerDefs(net, from, to, inputShape) {
  const [c, h, w] = inputShape;
  const defs = [{ type: 'input', out_sx: w, out_sy: h, out_depth: c }];
  const params = [];  // [index into defs, op, fc weights in ConvNetJS input order]
  for (let i = from; i < to; i++) {
    const op = net.ops[i];
    if (op.kind === 'conv') {
      params.push([defs.length, op, null]);
      defs.push({ type: 'conv', sx: op.kernel, filters: op.out, stride: op.stride, pad: op.padding });
    } else if (op.kind === 'maxpool') {
      defs.push({ type: 'pool', sx: op.kernel, stride: op.stride });
    } else if (op.kind === 'gap') {
      const next = net.ops.slice(i + 1).find((o) => o.kind !== 'dropout');
      if (!next || next.kind !== 'dense') throw new Error('ConvNetJS: global average pooling must feed a dense layer');
      const [gc, gh, gw] = net.ops[i - 1].outShape, n = gh * gw * gc;
      const weight = new Float32Array(next.out * n);
      for (let o = 0; o < next.out; o++)
        for (let p = 0; p < gh * gw; p++)
          for (let ch = 0; ch < gc; ch++) weight[o * n + p * gc + ch] = next.weight[o * gc + ch] / (gh * gw);
      params.push([defs.length, next, weight]);
      defs.push({ type: 'fc', num_neurons: next.out });
      if (next.relu) defs.push({ type: 'relu' });
      i = net.ops.indexOf(next);  // dropout before the dense layer is the identity at inference
      continue;
    } else if (op.kind === 'flatten') {
      continue;  // ConvNetJS's fc reads the whole volume in (h, w, c) order
    } else if (op.kind === 'dropout') {
      defs.push({ type: 'dropout', drop_prob: op.p });
    } else if (op.kind === 'dense') {
      const prev = net.ops[i - 1];
      const flatFrom = prev && prev.kind === 'flatten' && i - 1 > from ? net.ops[i - 2].outShape : null;
      params.push([defs.length, op, flatFrom ? denseWeightsForChannelsLast(op.weight, op.out, flatFrom) : op.weight]);
      defs.push({ type: 'fc', num_neurons: op.out });
    }
    if (op.relu) defs.push({ type: 'relu' });
  }
  return { defs, params };
}

function makeNet(defs, params) {
  const cnet = new convnetjs.Net();
  cnet.makeLayers(defs);
  // makeLayers inserts nothing for these defs (no activation/softmax sugar), so indices match.
  for (const [index, op, fcWeight] of params) {
    const layer = cnet.layers[index];
    const perOut = (fcWeight || op.weight).length / op.out;
    for (let o = 0; o < op.out; o++) {
      const f = layer.filters[o].w;
      if (op.kind === 'conv') {  // ConvNetJS filter Vol (kw, kh, in): w[(ky * k + kx) * in + c]
        const k = op.kernel, cin = op.in;
        for (let ci = 0; ci < cin; ci++)
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) f[(ky * k + kx) * cin + ci] = op.weight[((o * cin + ci) * k + ky) * k + kx];
      } else {
        for (let i = 0; i < perOut; i++) f[i] = fcWeight[o * perOut + i];
      }
      layer.biases.w[o] = op.bias[o];
    }
  }
  return cnet;
}

export function createConvnet(net) {
  const [c, h, w] = net.input;
  const { defs, params } = layerDefs(net, 0, net.ops.length, net.input);
  const cnet = makeNet(defs.filter((d) => d.type !== 'dropout'), params.map(([i, op, fw]) =>
    [i - defs.slice(0, i).filter((d) => d.type === 'dropout').length, op, fw]));
  const input = new convnetjs.Vol(w, h, c, 0.0);
  const classes = net.ops[net.ops.length - 1].out;
  let head = null, trainer = null, vols = [];
  return {
    predict(pixels, batch) {
      const x = normalise(pixels, net.mean, net.std);  // (h, w) = ConvNetJS's (sy, sx), c = 1
      const logits = new Float32Array(batch * classes);
      for (let b = 0; b < batch; b++) {
        input.w.set(x.subarray(b * h * w * c, (b + 1) * h * w * c));
        logits.set(cnet.forward(input, false).w, b * classes);
      }
      return logits;
    },
    // The head from the shipped weights, trained its own way: Trainer.train() per sample, a
    // momentum-SGD update every 32 samples (the same rule and mean gradient as ours and tfjs).
    trainer: {
      prepare(features, labels, n, { lr, momentum }) {
        const featureSize = features.length / n;
        const { defs: hd, params: hp } = layerDefs(net, net.headStart, net.ops.length, [featureSize, 1, 1]);
        // softmax as the loss layer: ConvNetJS's sugar would add an fc before it; ours is already there.
        const cnetHead = makeNet(hd, hp);
        const sm = new convnetjs.SoftmaxLayer({ in_sx: 1, in_sy: 1, in_depth: classes });
        cnetHead.layers.push(sm);
        head = cnetHead;
        trainer = new convnetjs.Trainer(head, { method: 'sgd', learning_rate: lr, momentum, batch_size: 32, l2_decay: 0 });
        vols = [];
        for (let i = 0; i < n; i++) {
          const v = new convnetjs.Vol(1, 1, featureSize, 0.0);
          v.w.set(features.subarray(i * featureSize, (i + 1) * featureSize));
          vols.push(v);
        }
        this.labels = labels;
      },
      train(n, epochs) {
        let loss = 0;
        for (let e = 0; e < epochs; e++)
          for (let i = 0; i < n; i++) loss = trainer.train(vols[i], this.labels[i]).loss;
        return loss;
      },
    },
    // Every layer from the shipped weights (dropout left out, as in ours at p = 0.1 it changes little),
    // Trainer.train() per image with a momentum-SGD update every 32.
    fullTrainer: {
      prepare(pixels, labels, n, { lr, momentum }) {
        const full = makeNet(defs.filter((d) => d.type !== 'dropout'), params.map(([i, op, fw]) =>
          [i - defs.slice(0, i).filter((d) => d.type === 'dropout').length, op, fw]));
        full.layers.push(new convnetjs.SoftmaxLayer({ in_sx: 1, in_sy: 1, in_depth: classes }));
        this.trainer = new convnetjs.Trainer(full, { method: 'sgd', learning_rate: lr, momentum, batch_size: 32, l2_decay: 0 });
        const x = normalise(pixels.subarray(0, n * h * w * c), net.mean, net.std);
        this.vols = [];
        for (let i = 0; i < n; i++) {
          const v = new convnetjs.Vol(w, h, c, 0.0);
          v.w.set(x.subarray(i * h * w * c, (i + 1) * h * w * c));
          this.vols.push(v);
        }
        this.labels = labels;
      },
      train(n, epochs) {
        let loss = 0;
        for (let e = 0; e < epochs; e++)
          for (let i = 0; i < n; i++) loss = this.trainer.train(this.vols[i], this.labels[i]).loss;
        return loss;
      },
    },
    dispose() {},
  };
}
