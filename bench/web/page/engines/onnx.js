// ONNX Runtime Web (global `ort` from ort.wasm.min.js: the wasm execution provider only), one
// thread, on the graph exported by bench/web/export_onnx.py from our safetensors file with
// torch.onnx. The graph holds the normalisation (Sub, Div); torch.onnx.export in eval mode already
// folds batch norm into the Conv nodes, and ORT's graph optimisations (level "all") fuse the rest.
// onnxruntime-web 1.30 has no in-browser training build, so it has no fine-tuning column.
const ort = globalThis.ort;

export function configureOrt(wasmPaths) {
  ort.env.wasm.wasmPaths = wasmPaths;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
}

export async function createOnnx(onnxBuffer, net) {
  const session = await ort.InferenceSession.create(new Uint8Array(onnxBuffer),
    { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const [c, h, w] = net.input;
  return {
    // ORT's run() is asynchronous by design; the harness awaits it as a page must.
    async predict(pixels, batch) {
      const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [batch, c, h, w]) });
      return out.logits.data;
    },
    trainer: null,
    dispose() { return session.release(); },
  };
}
