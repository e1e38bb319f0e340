import { createHash } from 'node:crypto'
import { AppError } from '../kernel/errors'
import { EVIDENCE_TYPES } from './schemas'

/**
 * What an uploaded evidence file is, judged by its bytes (never by its name or the type the client
 * declared): a PDF, PNG or JPEG by its signature, plain text when it is valid UTF-8 without NUL or
 * other control characters than tab, CR, LF and form feed. Anything else is refused.
 */
export function sniffEvidence(content: Buffer): (typeof EVIDENCE_TYPES)[number] | null {
  const starts = (sig: number[]) => sig.every((b, i) => content[i] === b)
  if (starts([0x25, 0x50, 0x44, 0x46, 0x2d])) return 'application/pdf' // %PDF-
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg'
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content)
  } catch {
    return null
  }
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(text) ? null : 'text/plain'
}

/** A stored file name: the last path segment, without control characters, at most 255 characters. */
export function evidenceFilename(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  const base = (name ?? '').split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f"]/g, '').trim()
  return (base || 'evidence').slice(0, 255)
}

/** Checks an upload and describes it for storage. */
export function describeEvidence(content: Buffer, filename: string | undefined) {
  if (!content.length) throw new AppError('validation_failed', 'The evidence file is empty.', { param: 'file' })
  const contentType = sniffEvidence(content)
  if (!contentType) throw new AppError('evidence_type_not_allowed', undefined, { param: 'file' })
  return { filename: evidenceFilename(filename), content_type: contentType, size: content.length, sha256: createHash('sha256').update(content).digest('hex') }
}
