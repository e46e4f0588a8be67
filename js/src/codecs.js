// Decoding of the kernel's binary messages: `fields` [{name, dtype, shape}] + one buffer per field.

const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
};

/**
 * View a received buffer (DataView, ArrayBuffer or typed array) as a typed array of `dtype`.
 * Copies only when the bytes are not aligned for the element size (typed arrays require alignment).
 */
export function toTyped(dtype, buffer) {
  const Ctor = CTORS[dtype];
  if (!Ctor) throw new Error(`nblabel: unsupported dtype ${JSON.stringify(dtype)} in a kernel message`);
  const bytes = ArrayBuffer.isView(buffer)
    ? { buf: buffer.buffer, offset: buffer.byteOffset, length: buffer.byteLength }
    : { buf: buffer, offset: 0, length: buffer.byteLength };
  if (bytes.length % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`nblabel: ${bytes.length} bytes is not a whole number of ${dtype} values`);
  }
  if (bytes.offset % Ctor.BYTES_PER_ELEMENT === 0) {
    return new Ctor(bytes.buf, bytes.offset, bytes.length / Ctor.BYTES_PER_ELEMENT);
  }
  return new Ctor(bytes.buf.slice(bytes.offset, bytes.offset + bytes.length));
}

/** Decode all fields of one message into {name: {data: TypedArray, shape: number[]}}. */
export function decodeFields(fields, buffers) {
  if (!Array.isArray(fields) || fields.length !== (buffers ? buffers.length : 0)) {
    throw new Error(
      `nblabel: message has ${fields ? fields.length : 0} fields but ${buffers ? buffers.length : 0} buffers`,
    );
  }
  const out = {};
  fields.forEach((field, i) => {
    const data = toTyped(field.dtype, buffers[i]);
    const expected = field.shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(`nblabel: field ${field.name} has ${data.length} values, shape says ${expected}`);
    }
    out[field.name] = { data, shape: field.shape };
  });
  return out;
}

/** Split interleaved (n, 2) coordinates into x and y arrays (what the map scales into its own coordinates). */
export function splitXY(xy) {
  const n = xy.length / 2;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = xy[2 * i];
    y[i] = xy[2 * i + 1];
  }
  return { x, y };
}
