// The tests' S3 server: s3rver (a devDependency) on a free loopback port over a temp directory.
// Started as its own process, `node --openssl-legacy-provider test/s3/s3rver.cjs DIR [BUCKET...]`:
// s3rver's continuation token of a truncated listing (ListObjectsV2 with MaxKeys) is made with a
// cipher Node 20's OpenSSL 3 has only in its legacy provider: without the flag that listing is a
// 500 (ERR_OSSL_EVP_UNSUPPORTED), checked.
// Prints `port N` on stdout once it listens; ends on SIGTERM (or when its parent's pipe closes).
'use strict';
const S3rver = require('s3rver');

const [dir, ...buckets] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node --openssl-legacy-provider test/s3/s3rver.cjs DIR [BUCKET...]');
  process.exit(64);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dir,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run((err, addr) => {
  if (err) {
    console.error(`s3rver: ${err.message}`);
    process.exit(69);
  }
  process.stdout.write(`port ${addr.port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test runner died without its teardown: no orphan server.
process.stdin.on('end', stop);
process.stdin.resume();
