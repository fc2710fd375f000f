// One timing harness for every engine: performance.now() around each call (5 us resolution in this
// cross-origin-isolated page), warm-up first. A call is "pixels in [0, 1] (Float32Array) -> logits
// (Float32Array)", whatever the engine does in between; asynchronous APIs are awaited.
const settle = (r) => (r && typeof r.then === 'function' ? r : null);

function quantile(sorted, q) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]; }

export async function maxLogitDiff(engine, reference, pixels, count, batch) {
  let worst = 0;
  for (let i = 0; i + batch <= count; i += batch) {
    const x = pixels.subarray(i * 784, (i + batch) * 784);
    let got = engine.predict(x, batch);
    if (settle(got)) got = await got;
    const want = reference.subarray(i * 10, (i + batch) * 10);
    for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
    if (got.length !== want.length) return Infinity;
  }
  return worst;
}

// Single-digit latency: `runs` timed calls cycling through `count` digits, after `warmup` calls.
export async function latency(engine, pixels, count, runs, warmup) {
  const one = (i) => pixels.subarray((i % count) * 784, (i % count + 1) * 784);
  for (let i = 0; i < warmup; i++) { const r = engine.predict(one(i), 1); if (settle(r)) await r; }
  const t = new Float64Array(runs);
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    const r = engine.predict(one(i), 1);
    if (settle(r)) await r;
    t[i] = performance.now() - a;
  }
  t.sort();
  return { medianMs: quantile(t, 0.5), p95Ms: quantile(t, 0.95), runs };
}

// Batch-64 throughput (images/s) from the median batch time; at least minRuns timed batches and
// as many more as fit in budgetMs.
export async function batchThroughput(engine, pixels, batch, minRuns, budgetMs) {
  const x = pixels.subarray(0, batch * 784);
  for (let i = 0; i < 2; i++) { const r = engine.predict(x, batch); if (settle(r)) await r; }
  const t = [];
  const start = performance.now();
  while (t.length < minRuns || (performance.now() - start < budgetMs && t.length < 200)) {
    const a = performance.now();
    const r = engine.predict(x, batch);
    if (settle(r)) await r;
    t.push(performance.now() - a);
  }
  t.sort((a, b) => a - b);
  return { imagesPerS: batch / (quantile(t, 0.5) / 1e3), runs: t.length };
}

// Head fine-tuning throughput (samples/s): one warm-up epoch, one epoch timed to size the run, then
// enough whole epochs over the n prepared samples to take about targetMs, timed as one block
// (per-step timing would add overhead to the fastest engines).
export async function fineTuneThroughput(trainer, features, labels, n, options, targetMs) {
  trainer.prepare(features, labels, n, options);
  let r = trainer.train(n, 1, options.batch);
  if (settle(r)) await r;
  let a = performance.now();
  r = trainer.train(n, 1, options.batch);
  if (settle(r)) r = await r;
  const oneEpochMs = Math.max(performance.now() - a, 0.01);
  const epochs = Math.max(1, Math.min(5000, Math.ceil(targetMs / oneEpochMs)));
  a = performance.now();
  r = trainer.train(n, epochs, options.batch);
  if (settle(r)) r = await r;
  const ms = performance.now() - a;
  return { samplesPerS: (n * epochs) / (ms / 1e3), epochs, lastLoss: r };
}
