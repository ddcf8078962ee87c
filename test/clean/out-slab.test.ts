// RecyclingSlab: a slab is written again only once the bytes taken since it was retired pass
// the bound of what may still be waiting to be written; every view taken within that bound
// keeps its bytes.
import t from 'tap';
import { RecyclingSlab } from '../../src/clean/out-slab.js';

t.test('views within the unwritten bound keep their bytes; older slabs are used again', async (t) => {
  const unwritten = 3 << 20;
  const slab = new RecyclingSlab(unwritten);
  const views: { view: Buffer; fill: number; end: number }[] = [];
  let handed = 0;
  let largest = 0;
  let broken = 0;
  for (let k = 0; k < 400; k++) {
    // Blocks of varied sizes, each filled with its own byte.
    const n = 1000 + ((k * 7919) % 300_000);
    slab.room(n);
    slab.buf.fill(k & 0xff, slab.p, slab.p + n);
    slab.p += n;
    const view = slab.take();
    handed += view.length;
    largest = Math.max(largest, view.length);
    views.push({ view, fill: k & 0xff, end: handed });
    // Newest first, down to the first view written by now.
    for (let j = views.length - 1; j >= 0; j--) {
      const v = views[j];
      if (v.end < handed - unwritten - 2 * largest) break;
      // Every 512th byte and the last (a reuse overwrites whole runs).
      for (let x = 0; x < v.view.length; x += 512) if (v.view[x] !== v.fill) broken++;
      if (v.view[v.view.length - 1] !== v.fill) broken++;
    }
  }
  t.equal(broken, 0, 'no view that may still wait to be written was overwritten');
  t.ok(slab.reused > 10, `slabs were used again (${slab.reused})`);
});

t.test('a block larger than a slab gets a slab of its own, never a retired one', async (t) => {
  const slab = new RecyclingSlab(1 << 20);
  for (let k = 0; k < 40; k++) {
    slab.room(600_000);
    slab.p += 600_000;
    slab.take();
  }
  const before = slab.reused;
  slab.room(3 << 20);
  t.ok(slab.buf.length >= 3 << 20, 'room for the large block');
  t.equal(slab.reused, before);
});
