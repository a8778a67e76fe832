/**
 * The admin API's request and response shapes, written once: the routes validate with them and
 * the OpenAPI document is generated from them.
 */
import { z } from '@hono/zod-openapi';
import { OPERATOR_ROLES } from '../../platform/actor.js';
import { errorEnvelope } from '../../platform/http/openapi.js';
import { REASONS } from '../decide.js';
import { MAX_UPDATES_PER_SECOND } from '../delivery-rate.js';
import { ACCOUNT_STATUSES } from '../snapshot.js';
import { TOKEN_USAGES } from '../tokens.js';

/** Unpaired surrogates have no UTF-8 form: the audit log could not hash them the same everywhere. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
/** Control characters (NUL among them) cannot be stored in a PostgreSQL text column or shown safely. */
const CONTROL = /\p{Cc}/u;

function text(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !CONTROL.test(value) && !LONE_SURROGATE.test(value), {
      message: 'must be printable text (no control characters)',
    });
}

/** Every string inside a JSON value, keys included, can be hashed by the audit log. */
function storableJson(value: unknown): boolean {
  if (typeof value === 'string') return !LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.every(storableJson);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).every(([key, inner]) => storableJson(key) && storableJson(inner));
  }
  return true;
}

const category = z.enum(['professional', 'non_professional']);
const accountStatus = z.enum(ACCOUNT_STATUSES);
const operatorRole = z.enum(OPERATOR_ROLES);
const tokenUsage = z.enum(TOKEN_USAGES).openapi({
  description: 'For a person viewing a display (default), or an application without one (non-display)',
});
const epochMs = z.number().int().openapi({ description: 'UTC epoch milliseconds' });

export const userId = text(128).openapi({
  description: 'The broker’s own user id, any printable text',
  example: 'u-1001',
});
export const productId = z.string().min(1).max(64).openapi({ example: 'CTA_A' });

/** Epoch milliseconds or an ISO 8601 date-time with offset. */
export const instant = z
  .union([z.number().int().min(0).max(8_640_000_000_000_000), z.iso.datetime({ offset: true })])
  .openapi({
    description: 'UTC epoch milliseconds, or an ISO 8601 date-time',
    example: '2026-12-31T23:59:59Z',
  });

export const userParams = z.object({ id: userId.openapi({ param: { name: 'id', in: 'path' } }) });
export const productParams = userParams.extend({
  product: productId.openapi({ param: { name: 'product', in: 'path' } }),
});
export const tokenParams = userParams.extend({
  tokenId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'tokenId', in: 'path' } }),
});
export const operatorId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'must be lower-case letters, digits, . _ -' })
  .openapi({ example: 'jane.compliance' });
export const operatorParams = z.object({ id: operatorId.openapi({ param: { name: 'id', in: 'path' } }) });

export const listQuery = z.object({
  q: z.string().max(200).optional().openapi({ description: 'Text searched in id, email and name' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.string().max(128).optional().openapi({ description: 'The `next` of the previous page' }),
});

/** A plan's delivery rate: updates a second per symbol and channel type. */
const deliveryRate = z
  .number({ message: 'must be a number of updates a second' })
  .int({ message: 'must be a whole number of updates a second' })
  .min(1, { message: 'must be at least 1 update a second' })
  .max(MAX_UPDATES_PER_SECOND, { message: `must be at most ${MAX_UPDATES_PER_SECOND} updates a second` })
  .openapi({
    description:
      'Updates a second per symbol and channel type the edges deliver at most; above it they conflate to the latest value',
    example: 5,
  });

export const createUserBody = z
  .object({
    id: userId,
    email: z.email().max(320).optional(),
    name: text(200).optional(),
    address: text(500)
      .optional()
      .openapi({ description: 'Postal address, as a licensor’s detail file names the subscriber' }),
    sessionLimit: z.number().int().min(1).max(1000).optional(),
    maxUpdatesPerSecond: deliveryRate.optional().openapi({
      description:
        'The user’s delivery rate for every product; a grant’s own rate also applies (the smaller wins)',
    }),
  })
  .strict();

export const deliveryRateBody = z
  .object({
    maxUpdatesPerSecond: deliveryRate.nullable().openapi({
      description: 'Updates a second per symbol for every product the user receives; null removes the limit',
    }),
  })
  .strict();

/** Why a change was made, kept in the audit log; required for a correction. */
const reason = text(500).openapi({
  description: 'Why, kept in the audit log; required for a correction (an effect date in the past)',
  example: 'questionnaire received 2026-10-02, entered late',
});

export const contactBody = z
  .object({
    email: z.email().max(320).nullable().optional(),
    name: text(200).nullable().optional(),
    address: text(500).nullable().optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, {
    message: 'must name at least one of email, name, address',
  });

export const attestationBody = z
  .object({
    status: category,
    answers: z
      .record(z.string(), z.unknown())
      .refine(storableJson, { message: 'must not contain unpaired surrogates' })
      .optional()
      .openapi({ description: 'The questionnaire as answered, kept as evidence' }),
    effectiveFrom: instant.optional().openapi({
      description:
        'When the status really took effect, for an attestation recorded late: not in the future, not before the user was created; needs `reason`; admin and compliance only',
    }),
    reason: reason.optional(),
  })
  .strict();

export const agreementBody = z.object({ product: productId }).strict();

export const grantBody = z
  .object({
    realtime: z.literal(true),
    validFrom: instant.optional().openapi({
      description:
        'Omitted or in the past, the grant starts now; in the past with `reason`, a grant backdated to when it really started (not before the user was created)',
    }),
    validTo: instant.optional(),
    reason: reason.optional(),
    maxUpdatesPerSecond: deliveryRate.optional().openapi({
      description:
        'The plan’s delivery rate for this product; the user’s own rate also applies (the smaller wins)',
    }),
  })
  .strict();

/** An instant in a query string: digits are epoch milliseconds, else an ISO 8601 date-time. */
const instantParam = z
  .union([z.coerce.number().int().min(0).max(8_640_000_000_000_000), z.iso.datetime({ offset: true })])
  .openapi({
    description: 'UTC epoch milliseconds, or an ISO 8601 date-time',
    example: '2026-10-01T00:00:00Z',
  });

export const revokeQuery = z.object({
  effectiveAt: instantParam.optional().openapi({
    description:
      'When real time really ended, for a revocation entered late: not in the future, not before the user was created; needs `reason`; admin only',
  }),
  reason: reason.optional(),
});

export const tokenBody = z.object({ deviceId: text(80).optional(), usage: tokenUsage.optional() }).strict();

export const statusBody = z.object({ status: accountStatus, reason: text(500) }).strict();

export const operatorBody = z.object({ id: operatorId, role: operatorRole }).strict();

/** The error envelope, the one every route of the hub answers errors with. */
export const errorBody = errorEnvelope;

const decisionView = z
  .object({
    mode: z.enum(['realtime', 'delayed', 'refused']),
    reasons: z.array(z.enum(REASONS)),
    words: z.array(z.string()),
  })
  .openapi('Decision');

export const userSummary = z
  .object({
    id: z.string(),
    email: z.string().nullable(),
    name: z.string().nullable(),
    address: z.string().nullable(),
    status: accountStatus,
    delinquent: z.boolean(),
    sessionLimit: z.number().int(),
    maxUpdatesPerSecond: z.number().int().nullable().openapi({
      description: 'The user’s own delivery rate, updates a second per symbol; null: none',
    }),
    createdAt: epochMs,
    category,
    decisions: z.record(z.string(), decisionView),
  })
  .openapi('UserSummary');

export const grantRecord = z
  .object({
    id: z.number().int(),
    product: z.string(),
    validFrom: epochMs,
    validTo: epochMs.nullable(),
    createdAt: epochMs,
    createdBy: z.string(),
    revokedAt: epochMs.nullable(),
    revokedBy: z.string().nullable(),
    revocationEnteredAt: epochMs.nullable().openapi({
      description: 'When the revocation was entered; later than `revokedAt` for a backdated one',
    }),
    supersededBy: z.number().int().nullable(),
    maxUpdatesPerSecond: z.number().int().nullable(),
  })
  .openapi('Grant');

export const userDetail = userSummary
  .extend({
    grants: z.array(grantRecord),
    agreements: z.array(z.object({ licensor: z.string(), version: z.string(), acceptedAt: epochMs })),
    attestations: z.array(
      z.object({
        id: z.number().int(),
        status: category,
        answers: z.unknown(),
        at: epochMs,
        effectiveFrom: epochMs,
      }),
    ),
    tokens: z.array(
      z.object({
        id: z.string(),
        deviceId: z.string().nullable(),
        usage: tokenUsage,
        createdAt: epochMs,
        revokedAt: epochMs.nullable(),
      }),
    ),
  })
  .openapi('UserDetail');

export const userPage = z
  .object({ users: z.array(userSummary), next: z.string().nullable() })
  .openapi('UserPage');

export const createdUser = z
  .object({
    id: z.string(),
    email: z.string().nullable(),
    name: z.string().nullable(),
    address: z.string().nullable(),
    status: z.literal('active'),
    sessionLimit: z.number().int().nullable(),
    maxUpdatesPerSecond: z.number().int().nullable(),
    createdAt: epochMs,
  })
  .openapi('CreatedUser');

export const contact = z
  .object({
    id: z.string(),
    email: z.string().nullable(),
    name: z.string().nullable(),
    address: z.string().nullable(),
    changed: z.boolean(),
  })
  .openapi('Contact');

export const attestation = z
  .object({
    id: z.number().int(),
    status: category,
    at: epochMs.openapi({ description: 'When it was recorded' }),
    effectiveFrom: epochMs.openapi({ description: 'When it took effect: `at`, or the effect date given' }),
    expiresAt: epochMs.nullable(),
  })
  .openapi('Attestation');

export const agreementAcceptance = z
  .object({
    licensor: z.string(),
    name: z.string(),
    version: z.string(),
    acceptedAt: epochMs,
    created: z.boolean(),
  })
  .openapi('AgreementAcceptance');

export const grantResult = z
  .object({ grant: grantRecord, superseded: z.array(grantRecord) })
  .openapi('GrantResult');
export const revokeResult = z.object({ revoked: z.array(grantRecord) }).openapi('RevokeResult');

export const issuedToken = z
  .object({
    id: z.string(),
    token: z.string().openapi({ description: 'Shown this once; only its hash is stored' }),
    deviceId: z.string().nullable(),
    usage: tokenUsage,
    createdAt: epochMs,
  })
  .openapi('IssuedToken');

export const revokedFlag = z.object({ revoked: z.boolean() });

export const statusChange = z
  .object({ status: accountStatus, changed: z.boolean(), endedGrants: z.number().int() })
  .openapi('StatusChange');

export const deliveryRateChange = z
  .object({ maxUpdatesPerSecond: z.number().int().nullable(), changed: z.boolean() })
  .openapi('DeliveryRateChange');

export const createdOperator = z
  .object({ id: z.string(), role: operatorRole, token: z.string(), createdAt: epochMs })
  .openapi('CreatedOperator');
