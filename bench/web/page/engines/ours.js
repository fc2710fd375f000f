// digitlab's XNNPACK engine, from the web_bench wasm module (bench/web_bench_module.cpp). The wrapper
// does what a page using it does: copy pixels into wasm memory, call, copy logits out.
export async function createOursFactory(moduleUrl) {
  const { default: createWebBench } = await import(moduleUrl);
  const M = await createWebBench();
  const maxBatch = 64, classes = 10;
  const pixelsPtr = M._malloc(maxBatch * 784 * 4), logitsPtr = M._malloc(maxBatch * classes * 4);
  const check = (rc, what) => { if (rc < 0) throw new Error(`${what}: ${M.UTF8ToString(M._wb_error())}`); return rc; };

  // options.calibration (Float32Array of 28x28 images in [0, 1]): run the int8 path, calibrated on them.
  // options.winograd: run the Winograd convolutions.
  return async function createOurs(fileBuffer, options = {}) {
    const bytes = new Uint8Array(fileBuffer);
    const filePtr = M._malloc(bytes.length);
    M.HEAPU8.set(bytes, filePtr);
    const handle = check(M._wb_load(filePtr, bytes.length), 'wb_load');
    M._free(filePtr);
    if (options.calibration) {
      const c = options.calibration, calPtr = M._malloc(c.length * 4);
      M.HEAPF32.set(c, calPtr >> 2);
      check(M._wb_use_int8(handle, calPtr, c.length / 784), 'wb_use_int8');
      M._free(calPtr);
    }
    if (options.winograd) check(M._wb_use_winograd(handle), 'wb_use_winograd');
    const featureSize = check(M._wb_head_input_size(handle), 'wb_head_input_size');
    let trainInputs = 0, trainLabels = 0;  // the prepared samples, in wasm memory

    // A trainer over `perSample` floats per sample through the module's `${api}_reset` / `${api}_step`.
    const trainerOver = (api, perSample) => ({
      prepare(inputs, labels, n, { lr, momentum }) {
        if (trainInputs) { M._free(trainInputs); M._free(trainLabels); }
        trainInputs = M._malloc(n * perSample * 4);
        trainLabels = M._malloc(n);
        M.HEAPF32.set(inputs.subarray(0, n * perSample), trainInputs >> 2);
        M.HEAPU8.set(labels.subarray(0, n), trainLabels);
        check(M[`_${api}_reset`](handle, lr, momentum), `${api}_reset`);
      },
      // epochs passes over the n prepared samples in order; returns the last batch's loss.
      train(n, epochs, batch) {
        let loss = NaN;
        for (let e = 0; e < epochs; e++)
          for (let i = 0; i + batch <= n; i += batch)
            loss = M[`_${api}_step`](handle, trainInputs + i * perSample * 4, trainLabels + i, batch);
        if (!Number.isFinite(loss)) throw new Error(`${api}_step: ${M.UTF8ToString(M._wb_error())}`);
        return loss;
      },
    });

    return {
      predict(pixels, batch) {
        M.HEAPF32.set(pixels, pixelsPtr >> 2);
        check(M._wb_forward(handle, pixelsPtr, batch, logitsPtr), 'wb_forward');
        return M.HEAPF32.slice(logitsPtr >> 2, (logitsPtr >> 2) + batch * classes);
      },
      // Head inputs for n images (PyTorch (c, h, w) order), computed in batches of 64.
      headFeatures(pixels, n) {
        const out = new Float32Array(n * featureSize), featPtr = M._malloc(maxBatch * featureSize * 4);
        for (let i = 0; i < n; i += maxBatch) {
          const b = Math.min(maxBatch, n - i);
          M.HEAPF32.set(pixels.subarray(i * 784, (i + b) * 784), pixelsPtr >> 2);
          check(M._wb_head_features(handle, pixelsPtr, b, featPtr), 'wb_head_features');
          out.set(M.HEAPF32.subarray(featPtr >> 2, (featPtr >> 2) + b * featureSize), i * featureSize);
        }
        M._free(featPtr);
        return out;
      },
      featureSize,
      // Every layer trained on images (batch norm folded), one call per batch-32 step.
      fullTrainer: trainerOver('wb_full', 784),
      // Fine-tuning keeps the cached features in wasm memory (as FineTuner does), so a step is one call.
      trainer: trainerOver('wb_head', featureSize),
    };
  };
}
