/**
 * `metadata` and `external_id` of documents (invoices, payments, credit notes, sales): the
 * merchant's own key/value pairs and its reference for the document (a POS receipt number).
 */

export const MAX_METADATA_KEYS = 50

export type Metadata = Record<string, string>

export const metadataSchema = {
  type: 'object',
  description: `Up to ${MAX_METADATA_KEYS} keys (1-40 characters) with string values (up to 500 characters).`,
  maxProperties: MAX_METADATA_KEYS,
  propertyNames: { minLength: 1, maxLength: 40 },
  additionalProperties: { type: 'string', maxLength: 500 },
} as const

export const externalIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 200,
  description: "The merchant's own reference (e.g. a POS receipt number): unique per tenant among documents of this type (409 `external_id_taken`).",
} as const

/** Input properties of a document that carries them. */
export const documentRefInput = { external_id: externalIdSchema, metadata: metadataSchema } as const

/** Response properties of a document that carries them. */
export const documentRefOutput = {
  external_id: { type: ['string', 'null'] },
  metadata: { type: 'object', additionalProperties: { type: 'string' } },
} as const

/** `?external_id=` on a document list: exact match. */
export const externalIdFilter = { type: 'string', minLength: 1, maxLength: 200, description: 'Exact external_id.' } as const

/** LIKE pattern of a prefix (its wildcards escaped). */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export interface DocumentRef {
  external_id: string | null
  metadata: Metadata
}

/** The columns of a new document from its input. */
export function documentRef(input: { external_id?: string; metadata?: Metadata }): DocumentRef {
  return { external_id: input.external_id ?? null, metadata: input.metadata ?? {} }
}

/** Body of `PATCH /v1/{invoices,payments,credit-notes,sales}/:id`. */
export const metadataPatchBody = {
  type: 'object',
  additionalProperties: false,
  required: ['metadata'],
  properties: { metadata: { ...metadataSchema, description: `${metadataSchema.description} Replaces the whole object ({} clears it).` } },
} as const

export interface MetadataPatch {
  metadata: Metadata
}
