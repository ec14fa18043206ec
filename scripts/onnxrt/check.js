#!/usr/bin/env node
// check.js: run an exported evoswarm model in onnxruntime (CPU) over the
// test split of an IDX data set (Fashion-MNIST, MNIST) and print its test
// accuracy, so that the ONNX file is checked by a runtime that owes nothing
// to evoswarm's code.
//
// usage: node scripts/onnxrt/check.js MODEL_DIR DATA_DIR [--json]
//        node scripts/onnxrt/check.js --logits MODEL.onnx BATCH.json
//
// MODEL_DIR is a directory written by `evoswarm export` (model.onnx and
// metrics.json); DATA_DIR holds t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, plain or gzipped (.gz). The model gets exactly
// what evoswarm feeds its networks (train/dataset Batch): images in NCHW
// float32, pixel p of channel c as float32(p)*scale + shift with
// scale = 1/(255*std[c]) and shift = -mean[c]/std[c], each step rounded
// to float32, mean and std from metrics.json. The prediction is the first
// largest logit, as in evoswarm.
//
// Prints one line (images, correct, accuracy), or with --json one object:
// {"images", "correct", "accuracy", "pred": [...], "margin": [...]} where
// margin[i] is image i's largest logit minus its second largest (how near
// the prediction was to a tie).
//
// With --logits it runs MODEL.onnx on one batch instead: BATCH.json is
// {"shape": [N, C, H, W], "x": [N*C*H*W numbers]}, and it prints
// {"shape": [N, classes], "logits": [...]} (internal/onnx's test).
//
// Needs `npm ci --ignore-scripts` in this folder (scripts/deps.sh runs it).
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function die(msg) {
  process.stderr.write(`onnxrt check: ${msg}\n`);
  process.exit(1);
}

// readIDX reads an IDX file (plain or gzipped), checking its magic number
// and that its length matches its header.
function readIDX(dir, base, wantDims) {
  let file = path.join(dir, base);
  let buf;
  if (fs.existsSync(file)) {
    buf = fs.readFileSync(file);
  } else if (fs.existsSync(file + '.gz')) {
    file += '.gz';
    buf = zlib.gunzipSync(fs.readFileSync(file));
  } else {
    die(`${file}(.gz): not found`);
  }
  if (buf.length < 4 + 4 * wantDims || buf.readUInt16BE(0) !== 0 || buf[2] !== 0x08 || buf[3] !== wantDims) {
    die(`${file}: not an IDX file of unsigned bytes with ${wantDims} dimensions`);
  }
  const dims = [];
  for (let i = 0; i < wantDims; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const off = 4 + 4 * wantDims;
  if (buf.length - off !== dims.reduce((a, b) => a * b, 1)) {
    die(`${file}: ${buf.length - off} bytes of data for dimensions ${dims}`);
  }
  return { dims, data: buf.subarray(off) };
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    die(`onnxruntime-node is not installed (run: npm ci --ignore-scripts in ${__dirname}): ${e.message}`);
  }
}

function openSession(ort, file) {
  return ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
}

async function logits(modelFile, batchFile) {
  const ort = loadOrt();
  const batch = JSON.parse(fs.readFileSync(batchFile, 'utf8'));
  const shape = batch.shape;
  if (!Array.isArray(shape) || shape.length !== 4 || shape.reduce((a, b) => a * b, 1) !== batch.x.length) {
    die(`${batchFile}: shape ${shape} does not fit ${batch.x && batch.x.length} values`);
  }
  const session = await openSession(ort, modelFile);
  const out = await session.run({ images: new ort.Tensor('float32', Float32Array.from(batch.x), shape) });
  process.stdout.write(JSON.stringify({ shape: out.logits.dims, logits: Array.from(out.logits.data) }) + '\n');
}

async function main() {
  if (process.argv[2] === '--logits') {
    if (process.argv.length !== 5) die('usage: node check.js --logits MODEL.onnx BATCH.json');
    return logits(process.argv[3], process.argv[4]);
  }
  const args = process.argv.slice(2).filter((a) => a !== '--json');
  const json = process.argv.includes('--json');
  if (args.length !== 2) die('usage: node check.js MODEL_DIR DATA_DIR [--json]');
  const [modelDir, dataDir] = args;

  const ort = loadOrt();
  const metrics = JSON.parse(fs.readFileSync(path.join(modelDir, 'metrics.json'), 'utf8'));

  const images = readIDX(dataDir, 't10k-images-idx3-ubyte', 3);
  const labels = readIDX(dataDir, 't10k-labels-idx1-ubyte', 1);
  const [n, h, w] = images.dims;
  const c = 1;
  if (labels.dims[0] !== n) die(`${n} test images but ${labels.dims[0]} labels`);
  if (!Array.isArray(metrics.mean) || metrics.mean.length !== c || !Array.isArray(metrics.std) || metrics.std.length !== c) {
    die(`metrics.json has ${metrics.mean && metrics.mean.length} means and ${metrics.std && metrics.std.length} standard deviations for ${c} channel(s)`);
  }

  // The 256 normalised values of each channel, computed in float32 as
  // train/dataset does (lut.fill).
  const f = Math.fround;
  const tables = [];
  for (let ch = 0; ch < c; ch++) {
    const mean = f(metrics.mean[ch]);
    const std = f(metrics.std[ch]);
    const scale = f(1 / f(255 * std));
    const shift = f(-mean / std);
    const t = new Float32Array(256);
    for (let p = 0; p < 256; p++) t[p] = f(f(p * scale) + shift);
    tables.push(t);
  }

  const session = await openSession(ort, path.join(modelDir, 'model.onnx'));
  if (session.inputNames.length !== 1 || session.inputNames[0] !== 'images' ||
      session.outputNames.length !== 1 || session.outputNames[0] !== 'logits') {
    die(`model has inputs ${session.inputNames} and outputs ${session.outputNames}, want images and logits`);
  }

  const size = c * h * w;
  const batch = 500;
  const pred = new Array(n);
  const margin = new Array(n);
  let correct = 0;
  let classes = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const x = new Float32Array(m * size);
    for (let i = 0; i < m; i++) {
      for (let ch = 0; ch < c; ch++) {
        const t = tables[ch];
        const src = (start + i) * size + ch * h * w;
        const dst = i * size + ch * h * w;
        for (let k = 0; k < h * w; k++) x[dst + k] = t[images.data[src + k]];
      }
    }
    const out = await session.run({ images: new ort.Tensor('float32', x, [m, c, h, w]) });
    const logits = out.logits;
    if (logits.dims.length !== 2 || logits.dims[0] !== m) die(`logits have shape ${logits.dims}, want [${m}, classes]`);
    classes = logits.dims[1];
    const y = logits.data;
    for (let i = 0; i < m; i++) {
      const row = y.subarray(i * classes, (i + 1) * classes);
      let best = 0;
      for (let j = 1; j < classes; j++) if (row[j] > row[best]) best = j;
      let second = -Infinity;
      for (let j = 0; j < classes; j++) if (j !== best && row[j] > second) second = row[j];
      pred[start + i] = best;
      margin[start + i] = row[best] - second;
      if (best === labels.data[start + i]) correct++;
    }
  }
  const accuracy = correct / n;
  if (json) {
    process.stdout.write(JSON.stringify({ images: n, correct, accuracy, classes, pred, margin }) + '\n');
  } else {
    process.stdout.write(`onnxruntime ${require('onnxruntime-node/package.json').version}: ` +
      `${correct} of ${n} test images correct, accuracy ${accuracy.toFixed(4)} ` +
      `(metrics.json: test_accuracy ${metrics.test_accuracy})\n`);
  }
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
