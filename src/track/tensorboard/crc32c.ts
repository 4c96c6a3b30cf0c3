// CRC-32C (Castagnoli), the checksum TFRecord framing uses. Table-driven, one
// byte per step: event files are a few records per training step, so this is
// never hot enough to need slicing-by-8.
import { reflectedCrc } from "../../io/crc32.js";

/** CRC-32C of `bytes`, as an unsigned 32-bit integer (0x1EDC6F41 bit-reversed: the reflected form). */
export const crc32c = reflectedCrc(0x82f63b78);

/**
 * TFRecord's masked CRC: rotate right by 15 and add a constant, so that a CRC
 * stored inside checksummed data does not weaken the outer checksum.
 */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

export function maskedCrc32c(bytes: Uint8Array): number {
  return maskCrc(crc32c(bytes));
}
