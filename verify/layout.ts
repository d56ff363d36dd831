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
  sha256: string;
}

export interface BundleLayout {
  manifestHeaderOffset: number;
  manifestOffset: number;
  manifestSize: number;
  signatureHeaderOffset: number;
  signatureOffset: number;
  imageHeaderOffset: number;
  /** First image byte inside the bundle. */
  imageOffset: number;
  imageSize: number;
  /** One past the last image byte. */
  imageEnd: number;
  /** Size of a bundle as the writer makes it: image padded to 512, then the two zero end blocks. */
  totalSize: number;
  chunks: ChunkLocation[];
}

export function padToBlock(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

/** The layout of a bundle whose manifest.json has `manifestByteLength` bytes. */
export function bundleLayout(manifest: Manifest, manifestByteLength: number): BundleLayout {
  const manifestHeaderOffset = 0;
  const manifestOffset = TAR_BLOCK;
  const signatureHeaderOffset = manifestOffset + padToBlock(manifestByteLength);
  const signatureOffset = signatureHeaderOffset + TAR_BLOCK;
  const imageHeaderOffset = signatureOffset + TAR_BLOCK; // the 64-byte signature padded to one block
  const imageOffset = imageHeaderOffset + TAR_BLOCK;
  const chunks: ChunkLocation[] = [];
  let at = 0;
  manifest.image.chunks.forEach((chunk, index) => {
    chunks.push({ index, imageOffset: at, bundleOffset: imageOffset + at, size: chunk.size, sha256: chunk.sha256 });
    at += chunk.size;
  });
  return {
    manifestHeaderOffset,
    manifestOffset,
    manifestSize: manifestByteLength,
    signatureHeaderOffset,
    signatureOffset,
    imageHeaderOffset,
    imageOffset,
    imageSize: manifest.image.size,
    imageEnd: imageOffset + manifest.image.size,
    totalSize: imageOffset + padToBlock(manifest.image.size) + TAR_END_BYTES,
    chunks,
  };
}

/** Offset inside the image where chunk `index` starts (the running sum of the sizes before it). */
export function chunkImageOffset(manifest: Manifest, index: number): number {
  let at = 0;
  for (let i = 0; i < index; i++) at += manifest.image.chunks[i]?.size ?? 0;
  return at;
}
