// s3://bucket/key paths: the one place that talks to S3 (docs/lake.md "S3"). The AWS SDK is
// imported here, and only when a path is an s3:// one: every other run starts as before.
// Endpoint, region and credentials come from the standard AWS variables (AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE…); with an
// endpoint set, requests are path-style (http://host/bucket/key), as MinIO, Ceph and s3rver want.
import type { Readable } from 'node:stream';
import type { AsyncBuffer } from 'hyparquet';
import {
  BxError,
  ConfigError,
  InputMissingError,
  IoError,
  NoPermError,
  UnavailableError,
  UsageError,
} from './errors.js';

export const isS3 = (path: string) => /^s3:\/\//i.test(path);

export interface S3Url {
  bucket: string;
  /** The key or prefix, without a leading slash ('' = the whole bucket). */
  key: string;
}

// S3's rules for a bucket name (3-63 characters, lower case, digits, dots and hyphens).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/key` → its parts; anything else is a usage error (exit 64) naming the path. */
export function parseS3Url(url: string): S3Url {
  const m = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/i.exec(url);
  if (!m) throw new UsageError(`${url}: not an s3://BUCKET/KEY path`);
  const [, bucket, key = ''] = m;
  if (!BUCKET.test(bucket))
    throw new UsageError(
      `${url}: "${bucket}" is not a valid S3 bucket name (3-63 characters: a-z, 0-9, dots and hyphens)`,
    );
  if (key.split('/').some((s) => s === '.' || s === '..'))
    throw new UsageError(`${url}: a key with . or .. segments names no object`);
  return { bucket, key };
}

export const s3UrlOf = (bucket: string, key: string) => `s3://${bucket}/${key}`;

type Sdk = typeof import('@aws-sdk/client-s3');
type Env = Record<string, string | undefined>;

/** One client per process (its connection pool is shared by every object a run reads or writes). */
export interface S3 {
  sdk: Sdk;
  client: import('@aws-sdk/client-s3').S3Client;
  /** Where requests go, for messages: the endpoint, or "AWS S3". */
  where: string;
}

let shared: Promise<S3> | undefined;

export function s3(env: Env): Promise<S3> {
  shared ??= connect(env);
  return shared;
}

async function connect(env: Env): Promise<S3> {
  // The SDK warns on Node 20 in ten lines of stderr that its 2027 releases will need Node 22;
  // bx's output keeps one line per message, and package.json pins an SDK that runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sdk = await import('@aws-sdk/client-s3');
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  const creds =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          sessionToken: env.AWS_SESSION_TOKEN || undefined,
        }
      : undefined; // else the SDK's chain: AWS_PROFILE and ~/.aws, SSO, web identity, the instance's role
  const client = new sdk.S3Client({
    region,
    endpoint,
    forcePathStyle: endpoint !== undefined,
    // A bucket in another region than AWS_REGION: the SDK follows S3's redirect.
    followRegionRedirects: true,
    // The SDK's own warnings would go to stderr as console lines; bx reports each failure itself.
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    ...(creds ? { credentials: creds } : {}),
    // Newer SDKs add CRC32 checksums (aws-chunked bodies with trailers) to every PUT, which
    // S3-compatible servers other than AWS often refuse; with an endpoint, only where S3 needs one.
    ...(endpoint && !env.AWS_REQUEST_CHECKSUM_CALCULATION
      ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
      : {}),
  });
  return { sdk, client, where: endpoint ? `the S3 endpoint ${endpoint}` : 'AWS S3' };
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  errors?: { code?: string }[];
  $metadata?: { httpStatusCode?: number };
}

const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * An SDK failure as the BxError a user should see, one line naming the s3:// path: no such
 * bucket or key 66, access denied 77, no connection or a 5xx 69, no credentials 78, others 74.
 */
export function s3Error(err: unknown, url: string, where = 'S3'): BxError {
  if (err instanceof BxError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  const code = e.code ?? e.errors?.find((x) => x.code)?.code ?? '';
  const msg = (e.message ?? String(err)).split('\n')[0].slice(0, 200);
  const bucket = /^s3:\/\/[^/]*/i.exec(url)?.[0] ?? url;
  if (name === 'NoSuchBucket') return new InputMissingError(`${url}: no such bucket ${bucket}`);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404)
    return new InputMissingError(`${url}: no such object`);
  if (
    name === 'AccessDenied' ||
    name === 'InvalidAccessKeyId' ||
    name === 'SignatureDoesNotMatch' ||
    name === 'ExpiredToken' ||
    status === 401 ||
    status === 403
  )
    return new NoPermError(`${url}: access denied by S3 (${name || status}); see docs/lake.md "IAM permissions"`);
  if (name === 'CredentialsProviderError')
    return new ConfigError(
      `${url}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (${msg})`,
    );
  if (
    NETWORK.has(code) ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    (status !== undefined && status >= 500)
  )
    return new UnavailableError(`${url}: cannot reach ${where} (${code || name || status}: ${msg})`);
  if (status === undefined && /connect|socket|network/i.test(msg))
    return new UnavailableError(`${url}: cannot reach ${where} (${msg})`);
  return new IoError(`${url}: S3 refused the request (${name || status || code}: ${msg})`);
}

/** Runs one SDK call; a failure becomes s3Error's BxError for `url`. */
export async function call<T>(s: S3, url: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw s3Error(err, url, s.where);
  }
}

export interface Listed {
  key: string;
  size: number;
}

/** Every object under `prefix` (ListObjectsV2, 1000 a page), in key order. A missing bucket is 66. */
export async function listObjects(s: S3, bucket: string, prefix: string): Promise<Listed[]> {
  const out: Listed[] = [];
  let token: string | undefined;
  do {
    const r = await call(s, s3UrlOf(bucket, prefix), () =>
      s.client.send(new s.sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
    );
    for (const o of r.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key, size: Number(o.Size ?? 0) });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** The size of an object; a missing one is 66, telling a missing bucket apart (HEAD has no error body). */
export async function objectSize(s: S3, url: string): Promise<number> {
  const { bucket, key } = parseS3Url(url);
  try {
    const h = await s.client.send(new s.sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
    return Number(h.ContentLength ?? 0);
  } catch (err) {
    if ((err as SdkError).$metadata?.httpStatusCode === 404) {
      const b = await s.client.send(new s.sdk.HeadBucketCommand({ Bucket: bucket })).catch((e: unknown) => e);
      if ((b as SdkError)?.$metadata?.httpStatusCode === 404)
        throw new InputMissingError(`${url}: no such bucket s3://${bucket}`);
    }
    throw s3Error(err, url, s.where);
  }
}

/** Sizes learnt from listings, manifests and HEADs: an object is HEADed at most once a run. */
const knownSizes = new Map<string, number>();
export const rememberSize = (url: string, size: number) => knownSizes.set(url, size);

/** An object's size: what a listing or manifest said, else one HEAD (remembered). */
export async function sizeOf(s: S3, url: string): Promise<number> {
  let size = knownSizes.get(url);
  if (size === undefined) knownSizes.set(url, (size = await objectSize(s, url)));
  return size;
}

/** An s3:// path to read: a valid URL and no glob (S3 has no globs; a prefix reads every partition). */
export function s3ReadTarget(url: string): S3Url {
  const parts = parseS3Url(url);
  if (/[*?[]/.test(parts.key))
    throw new UsageError(`${url}: globs are for local paths; name an S3 prefix (every partition under it is read)`);
  return parts;
}

/**
 * An AsyncBuffer over an object: each slice is one ranged GET (`Range: bytes=a-b`), so reading a
 * Parquet file costs its footer and the row groups read, never the whole object in memory.
 */
export async function objectBuffer(
  url: string,
  env: Env = process.env,
): Promise<{ buf: AsyncBuffer; close: () => Promise<void> }> {
  const s = await s3(env);
  const { bucket, key } = parseS3Url(url);
  const size = await sizeOf(s, url);
  return {
    buf: {
      byteLength: size,
      async slice(start: number, end?: number) {
        const stop = Math.min(end ?? size, size);
        if (stop <= start) return new ArrayBuffer(0);
        const r = await call(s, url, async () => {
          const o = await s.client.send(
            new s.sdk.GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${stop - 1}` }),
          );
          return o.Body!.transformToByteArray();
        });
        // A server that ignores Range sends the whole object: keep the part asked for.
        const part = r.length === stop - start ? r : r.subarray(start, stop);
        return part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength) as ArrayBuffer;
      },
    },
    close: async () => {},
  };
}

/** An object's bytes as a stream (GetObject), and its size. A missing object is 66 here, before any byte. */
export async function objectStream(url: string, env: Env): Promise<{ stream: Readable; size?: number }> {
  const s = await s3(env);
  const { bucket, key } = parseS3Url(url);
  const o = await call(s, url, () => s.client.send(new s.sdk.GetObjectCommand({ Bucket: bucket, Key: key })));
  const stream = o.Body as Readable;
  return { stream, size: o.ContentLength === undefined ? undefined : Number(o.ContentLength) };
}

/** A small object's text, or undefined when there is none. */
export async function getText(s: S3, bucket: string, key: string): Promise<string | undefined> {
  try {
    const o = await s.client.send(new s.sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return await o.Body!.transformToString();
  } catch (err) {
    const e = err as SdkError;
    if (e.name === 'NoSuchKey' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket')) return undefined;
    throw s3Error(err, s3UrlOf(bucket, key), s.where);
  }
}

/**
 * One PUT of a small object: S3 replaces an object atomically, so a reader gets the old or the new
 * text. `create`: If-None-Match: * (only if absent); false when the server refused because it exists.
 */
export async function putText(
  s: S3,
  bucket: string,
  key: string,
  text: string,
  opts: { create?: boolean } = {},
): Promise<boolean> {
  try {
    await s.client.send(
      new s.sdk.PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: text,
        ContentType: 'application/json',
        ...(opts.create ? { IfNoneMatch: '*' } : {}),
      }),
    );
    return true;
  } catch (err) {
    const status = (err as SdkError).$metadata?.httpStatusCode;
    // 412 Precondition Failed: it exists; 409: another conditional write to it is in flight.
    if (opts.create && (status === 412 || status === 409)) return false;
    throw s3Error(err, s3UrlOf(bucket, key), s.where);
  }
}

/** Deletes keys, 1000 a request (DeleteObjects); a key already gone is no error. */
export async function deleteKeys(s: S3, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const r = await call(s, s3UrlOf(bucket, batch[0]), () =>
      s.client.send(
        new s.sdk.DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      ),
    );
    const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length)
      throw s3Error(
        { name: failed[0].Code, message: failed[0].Message },
        s3UrlOf(bucket, failed[0].Key ?? batch[0]),
        s.where,
      );
  }
}

/**
 * Uploads a stream to an object with lib-storage's Upload: one PUT when it is under a part's size,
 * else a multipart upload. The object appears only when the upload completes; abort() before that
 * (a failed run) leaves no object, and the parts of a multipart upload are aborted.
 */
export async function upload(
  s: S3,
  url: string,
  body: Readable,
  opts: { contentType?: string; contentEncoding?: string } = {},
): Promise<{ done: Promise<void>; abort: () => Promise<void> }> {
  const { bucket, key } = parseS3Url(url);
  const { Upload } = await import('@aws-sdk/lib-storage');
  const up = new Upload({
    client: s.client,
    // 8 MiB parts, two in flight: at most ~16 MiB held per upload whatever the object's size.
    partSize: 8 * 1024 * 1024,
    queueSize: 2,
    leavePartsOnError: false,
    params: {
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: opts.contentType,
      ContentEncoding: opts.contentEncoding,
    },
  });
  let aborted = false;
  const done = up.done().then(
    () => undefined,
    (err: unknown) => {
      throw aborted ? new IoError(`${url}: upload aborted`) : s3Error(err, url, s.where);
    },
  );
  done.catch(() => {}); // read by the caller's await; never an unhandled rejection meanwhile
  return {
    done,
    abort: async () => {
      aborted = true;
      await up.abort().catch(() => {});
      await done.catch(() => {});
    },
  };
}

/** Fails with 66 (or 69, 77…) unless an s3:// input is there: an object, or a prefix with objects under it. */
export async function checkS3Input(url: string, env: Env, object: boolean): Promise<void> {
  const s = await s3(env);
  const { bucket, key } = s3ReadTarget(url);
  if (object) {
    await sizeOf(s, url);
    return;
  }
  const r = await call(s, url, () =>
    s.client.send(
      new s.sdk.ListObjectsV2Command({
        Bucket: bucket,
        Prefix: key && !key.endsWith('/') ? `${key}/` : key,
        MaxKeys: 1,
      }),
    ),
  );
  if (!r.Contents?.length) throw new InputMissingError(`${url}: no objects under this prefix`);
}
