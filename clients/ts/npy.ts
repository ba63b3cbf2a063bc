// A reader of NPY files (versions 1.0 to 3.0), the format of POST /v1/tensors/npy.
//
// The file is the magic "\x93NUMPY", a version, the header length, a header that is a Python dict
// literal ({'descr': '<f4', 'fortran_order': False, 'shape': (784, 256), }) padded with spaces to a
// multiple of 64 bytes, then the data. Only what initserve writes is read: little-endian floats in
// C order; anything else is refused with an error rather than misread.

export type NpyDtype = "<f2" | "<f4" | "<f8";

export interface Npy {
  dtype: NpyDtype;
  shape: number[];
  /** The values: float32 and float64 as numbers; float16 as the raw IEEE half bits. */
  data: Float32Array | Float64Array | Uint16Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const WIDTH: Record<NpyDtype, number> = { "<f2": 2, "<f4": 4, "<f8": 8 };

export function parseNpy(buffer: ArrayBuffer): Npy {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error("not an NPY file (bad magic)");
  const major = bytes[6];
  const view = new DataView(buffer);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw new Error(`unsupported NPY version ${major}.${bytes[7]}`);
  }
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, headerStart + headerLength),
  );
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`malformed NPY header: ${header}`);
  }
  if (!(descr in WIDTH)) throw new Error(`unsupported NPY dtype ${descr} (little-endian floats only)`);
  if (fortran !== "False") throw new Error("Fortran-order NPY data is not supported");
  const dtype = descr as NpyDtype;
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLength;
  if (bytes.length !== offset + count * WIDTH[dtype]) {
    throw new Error(`NPY data is ${bytes.length - offset} bytes, the header announces ${count * WIDTH[dtype]}`);
  }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("big-endian hosts are not supported");
  // The data starts on a 64-byte boundary, so typed-array views need no copy.
  const data =
    dtype === "<f4"
      ? new Float32Array(buffer, offset, count)
      : dtype === "<f8"
        ? new Float64Array(buffer, offset, count)
        : new Uint16Array(buffer, offset, count);
  return { dtype, shape, data };
}
