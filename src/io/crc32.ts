// Table-driven reflected CRCs (one byte per step): CRC-32 (IEEE 802.3,
// polynomial 0xEDB88320), the checksum zip archives and PNG chunks store, and
// the same algorithm over other polynomials (TensorBoard's CRC-32C:
// src/track/tensorboard/crc32c.ts).

/** The CRC over a reflected polynomial: init and final xor 0xffffffff. */
export function reflectedCrc(poly: number): (bytes: Uint8Array) => number {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[n] = c >>> 0;
  }
  return (bytes) => {
    let crc = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  };
}

export const crc32 = reflectedCrc(0xedb88320);
