// The bench page: loads every engine on the same weights, checks that each one's logits match ours on
// the same MNIST test digits, then times them with one harness (harness.js). Settings come from the
// query string (run_bench.mjs sets them); the result lands in window.benchResult.
import { createConvnet } from './engines/convnet.js';
import { configureOrt, createOnnx } from './engines/onnx.js';
import { createOursFactory } from './engines/ours.js';
import { createTfjs } from './engines/tfjs.js';
import { batchThroughput, fineTuneThroughput, latency, maxLogitDiff } from './harness.js';
import { describeNetwork } from './network.js';

const q = new URLSearchParams(location.search);
const cfg = {
  models: (q.get('models') || 'digitlab-cnn,seed-cnn').split(','),
  engines: (q.get('engines') || 'ours,ours-winograd,ours-int8,tfjs-wasm,tfjs-cpu,ort-wasm,convnetjs').split(','),
  phases: (q.get('phases') || 'latency,batch,finetune,fulltune').split(','),  // after the logit check, always run
  runs: Number(q.get('runs') || 1000),       // single-digit calls timed per engine
  warmup: Number(q.get('warmup') || 100),
  verify: 100,                               // MNIST test digits whose logits are compared
  trainSamples: 1024,                        // cached head inputs per fine-tuning epoch
  fullSamples: 64,                           // images per full-model epoch (two batch-32 steps)
  train: { lr: 0.01, momentum: 0.9, batch: 32 },
  batchBudgetMs: Number(q.get('batch_ms') || 3000),
  trainTargetMs: Number(q.get('train_ms') || 2000),
};

const log = (m) => console.log(`[bench] ${m}`);
const fetchBuffer = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
};

async function loadDigits() {
  const images = new Uint8Array(await fetchBuffer('/data/digits.u8'));
  const labels = new Uint8Array(await fetchBuffer('/data/labels.u8'));
  const pixels = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) pixels[i] = images[i] / 255;
  return { pixels, labels, count: labels.length };
}

// What each engine column is and how it is created for one model.
function engineMakers(net, fileBuffer, createOurs, calibration) {
  const tf = globalThis.tf;
  return {
    ours: { label: 'digitlab (XNNPACK, wasm SIMD)', make: () => createOurs(fileBuffer) },
    // Our fewer-operations path: Winograd convolutions, same f32 function (checked by the 1e-4 bound).
    // Inference only: fine-tuning runs the same trainer as 'ours'.
    'ours-winograd': { label: 'digitlab Winograd path (F(4x4,3x3) / F(2x2,3x3))', inferenceOnly: true,
      make: () => createOurs(fileBuffer, { winograd: true }) },
    // Our faster path: int8 where it pays (calibrated on 256 MNIST training digits); its logits are
    // quantised, so it is checked by top-1 agreement with ours rather than by the 1e-4 logit bound.
    'ours-int8': { label: 'digitlab int8 path (XNNPACK qs8)', quantized: true,
      make: () => createOurs(fileBuffer, { calibration }) },
    'tfjs-wasm': { label: 'tfjs 4.22 wasm (SIMD, 1 thread)',
      make: async () => { await tf.setBackend('wasm'); return createTfjs(net); } },
    'tfjs-cpu': { label: 'tfjs 4.22 cpu', make: async () => { await tf.setBackend('cpu'); return createTfjs(net); } },
    'ort-wasm': { label: 'onnxruntime-web 1.30 wasm (1 thread)',
      make: async () => createOnnx(await fetchBuffer(`/data/${net.name}.onnx`), net) },
    convnetjs: { label: 'ConvNetJS 0.3.0', make: () => createConvnet(net) },
  };
}

async function run() {
  const tf = globalThis.tf;
  tf.wasm.setWasmPaths('/lib/@tensorflow/tfjs-backend-wasm/dist/');
  // Same conditions as ours: SIMD on, threads off (this page is cross-origin isolated, so tfjs
  // would otherwise pick its threaded build).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  configureOrt('/lib/onnxruntime-web/dist/');
  const createOurs = await createOursFactory('/ours/web_bench.js');
  const digits = await loadDigits();
  const calibrationBytes = new Uint8Array(await fetchBuffer('/data/calibration.u8'));
  const calibration = Float32Array.from(calibrationBytes, (b) => b / 255);
  log(`${digits.count} MNIST test digits; crossOriginIsolated=${crossOriginIsolated}`);
  const result = { userAgent: navigator.userAgent, crossOriginIsolated, config: cfg, models: {}, environment: {} };

  for (const modelName of cfg.models) {
    const fileBuffer = await fetchBuffer(`/models/${modelName}.safetensors`);
    const net = describeNetwork(fileBuffer);
    const makers = engineMakers(net, fileBuffer, createOurs, calibration);
    const ours = await makers.ours.make();
    // The reference: our logits for the verification digits, one at a time and in one batch of 64.
    const v = digits.pixels.subarray(0, cfg.verify * 784);
    const refSingle = new Float32Array(cfg.verify * 10);
    for (let i = 0; i < cfg.verify; i++) refSingle.set(ours.predict(v.subarray(i * 784, (i + 1) * 784), 1), i * 10);
    const refBatch = new Float32Array(refSingle.length);
    for (let i = 0; i + 64 <= cfg.verify; i += 64) refBatch.set(ours.predict(v.subarray(i * 784, (i + 64) * 784), 64), i * 10);
    let correct = 0;
    for (let i = 0; i < cfg.verify; i++) {
      const row = refSingle.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === digits.labels[i]) correct++;
    }
    const features = ours.headFeatures(digits.pixels, cfg.trainSamples);
    log(`${modelName}: ours classifies ${correct}/${cfg.verify} verification digits correctly; head input ${ours.featureSize} values`);
    const rows = [];
    for (const id of cfg.engines) {
      const maker = makers[id];
      const engine = id === 'ours' ? ours : await maker.make();
      const row = { id, label: maker.label, quantized: !!maker.quantized, inferenceOnly: !!(maker.quantized || maker.inferenceOnly) };
      if (maker.quantized) {
        let agree = 0;
        for (let i = 0; i < cfg.verify; i++) {
          const a = refSingle.subarray(i * 10, i * 10 + 10), b = engine.predict(v.subarray(i * 784, (i + 1) * 784), 1);
          agree += a.indexOf(Math.max(...a)) === b.indexOf(Math.max(...b)) ? 1 : 0;
        }
        row.agreement = agree / cfg.verify;
        log(`${modelName} ${id}: top-1 agrees with ours (f32) on ${agree}/${cfg.verify}`);
      }
      row.maxDiffSingle = await maxLogitDiff(engine, refSingle, v, cfg.verify, 1);
      row.maxDiffBatch = await maxLogitDiff(engine, refBatch, v, 64, 64);
      log(`${modelName} ${id}: max |logit diff| vs ours ${row.maxDiffSingle.toExponential(2)} (b1), ${row.maxDiffBatch.toExponential(2)} (b64)`);
      if (cfg.phases.includes('latency')) {
        row.latency = await latency(engine, digits.pixels, cfg.verify, cfg.runs, cfg.warmup);
        log(`${modelName} ${id}: b1 median ${(row.latency.medianMs * 1e3).toFixed(0)} us, p95 ${(row.latency.p95Ms * 1e3).toFixed(0)} us`);
      }
      if (cfg.phases.includes('batch')) {
        row.batch64 = await batchThroughput(engine, digits.pixels, 64, 5, cfg.batchBudgetMs);
        log(`${modelName} ${id}: b64 ${row.batch64.imagesPerS.toFixed(0)} img/s (${row.batch64.runs} batches)`);
      }
      if (engine.trainer && cfg.phases.includes('finetune') && !row.inferenceOnly) {
        row.fineTune = await fineTuneThroughput(engine.trainer, features, digits.labels, cfg.trainSamples, cfg.train,
          cfg.trainTargetMs);
        log(`${modelName} ${id}: head fine-tuning ${row.fineTune.samplesPerS.toFixed(0)} samples/s ` +
          `(${row.fineTune.epochs} epochs of ${cfg.trainSamples}, last loss ${Number(row.fineTune.lastLoss).toPrecision(2)})`);
      }
      if (engine.fullTrainer && cfg.phases.includes('fulltune') && !row.inferenceOnly) {
        row.fullTune = await fineTuneThroughput(engine.fullTrainer, digits.pixels, digits.labels, cfg.fullSamples, cfg.train,
          cfg.trainTargetMs);
        log(`${modelName} ${id}: full-model fine-tuning ${row.fullTune.samplesPerS.toFixed(0)} samples/s ` +
          `(${row.fullTune.epochs} epochs of ${cfg.fullSamples}, last loss ${Number(row.fullTune.lastLoss).toPrecision(2)})`);
      }
      if (id.startsWith('tfjs')) row.tfjs = { backend: tf.getBackend(), version: tf.version.tfjs };
      if (id === 'tfjs-wasm') {
        row.tfjs.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
        row.tfjs.threads = tf.wasm.getThreadsCount();
      }
      if (id !== 'ours' && engine.dispose) await engine.dispose();
      rows.push(row);
    }
    result.models[modelName] = { rows, verificationAccuracy: correct / cfg.verify, headInput: ours.featureSize };
  }
  return result;
}

window.benchResult = run().catch((e) => { log(`FAILED: ${e.stack || e}`); return { error: String(e.stack || e) }; });
