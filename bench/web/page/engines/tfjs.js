// TensorFlow.js (global `tf` from tf.min.js; the wasm backend from tf-backend-wasm.min.js). The
// network is rebuilt with the layers API, as a user porting a PyTorch model does, and given our
// weights: conv kernels (out, in, kh, kw) -> (kh, kw, in, out), dense (out, in) -> (in, out). Batch
// norm is folded (network.js) so each conv runs as tfjs' fused conv + bias + relu, its fastest form.
// Activations are channels-last, so the dense layer after a flatten gets reordered inputs.
import { denseWeightsForChannelsLast, normalise } from '../network.js';

const tf = globalThis.tf;

function convKernel(op) {
  const { out, in: cin, kernel: k } = op, r = new Float32Array(op.weight.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < cin; i++)
      for (let y = 0; y < k; y++)
        for (let x = 0; x < k; x++) r[((y * k + x) * cin + i) * out + o] = op.weight[((o * cin + i) * k + y) * k + x];
  return tf.tensor4d(r, [k, k, cin, out]);
}

function denseKernel(weight, out, inputs) {
  const r = new Float32Array(weight.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inputs; i++) r[i * out + o] = weight[o * inputs + i];
  return tf.tensor2d(r, [inputs, out]);
}

// Layers for ops[from, to), input shape inputShape (tfjs order, no batch); channelsLast: whether a
// dense after flatten must reorder its inputs from (h, w, c).
function buildModel(net, from, to, inputShape, channelsLast) {
  const model = tf.sequential();
  const weights = [];
  let first = true;
  const add = (layer) => { model.add(layer); first = false; return layer; };
  const opt = () => (first ? { inputShape } : {});
  for (let i = from; i < to; i++) {
    const op = net.ops[i];
    const activation = op.relu ? 'relu' : 'linear';
    if (op.kind === 'conv') {
      const l = add(tf.layers.conv2d({ ...opt(), filters: op.out, kernelSize: op.kernel, strides: op.stride,
        padding: op.padding === (op.kernel - 1) / 2 ? 'same' : 'valid', activation, useBias: true }));
      if (op.padding !== 0 && op.padding !== (op.kernel - 1) / 2) throw new Error('tfjs: unsupported padding');
      weights.push([l, [convKernel(op), tf.tensor1d(op.bias)]]);
    } else if (op.kind === 'maxpool') {
      add(tf.layers.maxPooling2d({ ...opt(), poolSize: op.kernel, strides: op.stride }));
    } else if (op.kind === 'gap') {
      add(tf.layers.globalAveragePooling2d({ ...opt() }));
    } else if (op.kind === 'flatten') {
      if (i > from) add(tf.layers.flatten({ ...opt() }));  // a head's input is already flat
    } else if (op.kind === 'dropout') {
      add(tf.layers.dropout({ ...opt(), rate: op.p }));
    } else if (op.kind === 'dense') {
      const l = add(tf.layers.dense({ ...opt(), units: op.out, activation }));
      const prev = net.ops[i - 1];
      const w = channelsLast && prev && prev.kind === 'flatten' && i - 1 >= from
        ? denseWeightsForChannelsLast(op.weight, op.out, net.ops[i - 2].outShape) : op.weight;
      weights.push([l, [denseKernel(w, op.out, op.in), tf.tensor1d(op.bias)]]);
    }
  }
  for (const [layer, w] of weights) { layer.setWeights(w); tf.dispose(w); }
  return model;
}

// backend: 'wasm' or 'cpu'; must already be the active backend (main.js switches).
export function createTfjs(net) {
  const [c, h, w] = net.input;
  const model = buildModel(net, 0, net.ops.length, [h, w, c], true);
  let head = null, xs = null, ys = null;
  return {
    predict(pixels, batch) {
      const x = tf.tensor4d(normalise(pixels, net.mean, net.std), [batch, h, w, c]);
      const y = model.predict(x);
      const logits = y.dataSync();
      tf.dispose([x, y]);
      return logits;
    },
    // The head alone, from the shipped weights, trained on our engine's cached head inputs
    // ((c, h, w) order, so its dense layer keeps PyTorch's input order): model.fit, batch 32, no
    // shuffling, SGD with momentum, softmax cross-entropy on logits as ours.
    trainer: {
      prepare(features, labels, n, { lr, momentum }) {
        if (head) { head.dispose(); tf.dispose([xs, ys]); }
        const featureSize = features.length / n;
        head = buildModel(net, net.headStart, net.ops.length, [featureSize], false);
        head.compile({ optimizer: tf.train.momentum(lr, momentum),
          loss: (yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred) });
        xs = tf.tensor2d(features, [n, featureSize]);
        ys = tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), 10).toFloat();
      },
      async train(n, epochs, batch) {
        const hist = await head.fit(xs, ys, { batchSize: batch, epochs, shuffle: false, verbose: 0, yieldEvery: 'never' });
        return hist.history.loss[hist.history.loss.length - 1];
      },
    },
    dispose() { model.dispose(); if (head) { head.dispose(); tf.dispose([xs, ys]); } },
  };
}
