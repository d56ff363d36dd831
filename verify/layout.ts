// Where everything sits inside a bundle: the fixed ustar layout gives each chunk's byte offset (for HTTP Range).

import type { Manifest } from './manifest.js';

export const TAR_BLOCK = 512;
/** Two zero blocks end a tar archive. */
export const TAR_END_BYTES = 1024;
/** Readers accept up to one extra 10240-byte tar record of zeros after the end blocks (GNU tar's blocking). */
export const TAR_MAX_EXTRA_ZEROS = 10240;

export interface ChunkLocation {
  index: number;
  /** Offset of the chunk inside the image (= inside the slot). */
  imageOffset: number;
  /** Offset of the chunk inside the bundle file. */
  bundleOffset: number;
  size: number;
  /** Its bytes in the bundle (format 2: compressed or raw; format 1: size). */
  storedSize: number;
  sha256: string;
}

export interface BundleLayout {
  manifestHeaderOffset: number;
  manifestOffset: number;
  manifestSize: number;
  signatureHeaderOffset: number;
  signatureOffset: number;
  /** Format 2: the chunk index member (offset and size 0 in format 1). */
  indexHeaderOffset: number;
  indexOffset: number;
  indexSize: number;
  imageHeaderOffset: number;
  /** First byte of the image member inside the bundle. */
  imageOffset: number;
  imageSize: number;
  /** Bytes of the image member: the image (format 1) or its stored chunks (format 2). */
  storedSize: number;
  /** One past the image member's last byte. */
  imageEnd: number;
  /** Size of a bundle as the writer makes it: image padded to 512, then the two zero end blocks. */
  totalSize: number;
  chunks: ChunkLocation[];
}

export function padToBlock(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

/** The layout of a bundle whose manifest.json has `manifestByteLength` bytes (format 2: chunks attached). */
export function bundleLayout(manifest: Manifest, manifestByteLength: number): BundleLayout {
  const manifestHeaderOffset = 0;
  const manifestOffset = TAR_BLOCK;
  const signatureHeaderOffset = manifestOffset + padToBlock(manifestByteLength);
  const signatureOffset = signatureHeaderOffset + TAR_BLOCK;
  const afterSignature = signatureOffset + TAR_BLOCK; // the 64-byte signature padded to one block
  const { packed } = manifest.image;
  const indexSize = packed?.index.size ?? 0;
  const indexHeaderOffset = packed ? afterSignature : 0;
  const indexOffset = packed ? afterSignature + TAR_BLOCK : 0;
  const imageHeaderOffset = packed ? indexOffset + padToBlock(indexSize) : afterSignature;
  const imageOffset = imageHeaderOffset + TAR_BLOCK;
  const storedSize = packed?.storedSize ?? manifest.image.size;
  const chunks: ChunkLocation[] = [];
  let at = 0;
  let stored = 0;
  manifest.image.chunks.forEach((chunk, index) => {
    const storedChunk = chunk.stored?.size ?? chunk.size;
    chunks.push({ index, imageOffset: at, bundleOffset: imageOffset + stored, size: chunk.size, storedSize: storedChunk, sha256: chunk.sha256 });
    at += chunk.size;
    stored += storedChunk;
  });
  return {
    manifestHeaderOffset,
    manifestOffset,
    manifestSize: manifestByteLength,
    signatureHeaderOffset,
    signatureOffset,
    indexHeaderOffset,
    indexOffset,
    indexSize,
    imageHeaderOffset,
    imageOffset,
    imageSize: manifest.image.size,
    storedSize,
    imageEnd: imageOffset + storedSize,
    totalSize: imageOffset + padToBlock(storedSize) + TAR_END_BYTES,
    chunks,
  };
}

/** Offset inside the image member where chunk `index`'s stored bytes start (format 1: its image offset). */
export function chunkStoredOffset(manifest: Manifest, index: number): number {
  let at = 0;
  for (let i = 0; i < index; i++) {
    const chunk = manifest.image.chunks[i];
    at += chunk?.stored?.size ?? chunk?.size ?? 0;
  }
  return at;
}

/** Offset inside the image where chunk `index` starts (the running sum of the sizes before it). */
export function chunkImageOffset(manifest: Manifest, index: number): number {
  let at = 0;
  for (let i = 0; i < index; i++) at += manifest.image.chunks[i]?.size ?? 0;
  return at;
}
