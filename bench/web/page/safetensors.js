// Reads a safetensors file in the page, with no library: 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then raw little-endian data.
// Every peer engine gets its weights from here, out of the same file our engine loads.
export function parseSafetensors(buffer) {
  const view = new DataView(buffer);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
  const metadata = header.__metadata__ || {};
  delete header.__metadata__;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (info.dtype !== 'F32') throw new Error(`${name}: dtype ${info.dtype}, only F32 is supported`);
    const [start, end] = info.data_offsets;
    // Copied out: data_offsets need not be 4-byte aligned within the file.
    const data = new Float32Array(buffer.slice(8 + headerLength + start, 8 + headerLength + end));
    tensors[name] = { shape: info.shape, data };
  }
  return { tensors, metadata };
}
