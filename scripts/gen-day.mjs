#!/usr/bin/env node
// One day of a store chain's data, as its systems would export it, for the daily sales job
// (scripts/demo/). Deterministic: the same DAY gives the same bytes (the catalogue and the stores
// are seeded by a constant, the sales and the stock by the day).
//   node scripts/gen-day.mjs --day 2026-11-22 --out DIR [--rows 20000]     (or DAY=, ROWS=, OUT=)
// Writes DIR/pos/pos-<store>-<terminal>.csv (every second terminal gzipped), DIR/catalogue.xml
// (the inventory system: sku, name, category, price, reorder_level), DIR/stock.json (sku, store,
// on_hand) and DIR/stores.csv. A few dirty rows on purpose: a bad quantity, a missing sku, a
// repeated sale id; DIR/expected.json lists them (for the tests).
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
const arg = (name, env, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : (process.env[env] ?? dflt);
};
const DAY = arg('day', 'DAY', '2026-11-22');
const OUT = arg('out', 'OUT', `demo-out/in/${DAY}`);
const ROWS = Number(arg('rows', 'ROWS', '20000'));
if (!/^\d{4}-\d{2}-\d{2}$/.test(DAY) || Number.isNaN(Date.parse(`${DAY}T00:00:00Z`))) {
  process.stderr.write(`gen-day: --day: expected YYYY-MM-DD, got "${DAY}"\n`);
  process.exit(64);
}
if (!Number.isInteger(ROWS) || ROWS < 100) {
  process.stderr.write(`gen-day: --rows: expected a whole number of at least 100, got "${ROWS}"\n`);
  process.exit(64);
}

// mulberry32, seeded from a string by FNV-1a: small, fast and the same on every machine.
function rng(seedText) {
  let h = 0x811c9dc5;
  for (const c of seedText) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  let a = h;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
const int = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1));

// ---- the catalogue and the stores: the same every day
const CATEGORIES = {
  Produce: ['Apples', 'Bananas', 'Carrots', 'Tomatoes', 'Spinach', 'Lemons'],
  Dairy: ['Milk', 'Yoghurt', 'Butter', 'Cheddar', 'Cream'],
  Bakery: ['Sourdough', 'Baguette', 'Croissants', 'Rye Bread', 'Muffins'],
  Pantry: ['Rice', 'Pasta', 'Olive Oil', 'Flour', 'Coffee', 'Tea'],
  Household: ['Soap', 'Detergent', 'Paper Towels', 'Bin Bags'],
  Toys: ['Kite', 'Puzzle', 'Blocks', 'Yo-yo'],
  Stationery: ['Notebook', 'Pens', 'Stapler', 'Envelopes'],
  Electronics: ['Batteries', 'USB Cable', 'Headphones', 'Charger'],
};
const BASE = {
  Produce: [80, 450],
  Dairy: [90, 700],
  Bakery: [120, 550],
  Pantry: [150, 1400],
  Household: [200, 1200],
  Toys: [500, 3500],
  Stationery: [100, 1500],
  Electronics: [400, 6000],
};
const VARIANTS = ['Small', 'Large', 'Value', 'Organic', 'Family'];
const rc = rng('catalogue');
const products = [];
for (const [category, names] of Object.entries(CATEGORIES)) {
  for (const n of names) {
    for (const v of VARIANTS) {
      if (rc() < 0.25) continue;
      const [lo, hi] = BASE[category];
      products.push({
        sku: `${category.slice(0, 3).toUpperCase()}-${String(products.length + 1).padStart(4, '0')}`,
        name: `${n} (${v})`,
        category,
        cents: int(rc, lo, hi),
        reorder_level: int(rc, 5, 40),
      });
    }
  }
}
// Popular products sell more: a weight per product.
const weights = products.map(() => 0.2 + rc() ** 3 * 5);
const cumulative = [];
weights.reduce((s, w, i) => (cumulative[i] = s + w), 0);
const totalWeight = cumulative[cumulative.length - 1];
const STORES = [
  { store_id: 'S01', name: 'Harbour Street', city: 'Bristol', terminals: 2 },
  { store_id: 'S02', name: 'Market Square', city: 'Leeds', terminals: 2 },
  { store_id: 'S03', name: 'Station Road', city: 'York', terminals: 2 },
  { store_id: 'S04', name: 'High Street', city: 'Bath', terminals: 2 },
];

// ---- the day's sales
const r = rng(`sales ${DAY}`);
const money = (c) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
const hhmmss = (s) =>
  [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((x) => String(x).padStart(2, '0')).join(':');
const productAt = (x) => {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return products[lo];
};
// Opening hours 08:00–21:00, busiest around noon and 17:30.
const secondOfDay = () => {
  for (;;) {
    const s = int(r, 8 * 3600, 21 * 3600 - 1);
    const h = s / 3600;
    const busy = 0.35 + Math.exp(-((h - 12.5) ** 2) / 2) + 0.8 * Math.exp(-((h - 17.5) ** 2) / 1.5);
    if (r() * 1.6 < busy) return s;
  }
};

const terminals = STORES.flatMap((s) =>
  Array.from({ length: s.terminals }, (_, i) => ({ store: s.store_id, terminal: `T${i + 1}` })),
);
const perTerminal = Math.floor(ROWS / terminals.length);
const files = [];
const dirty = [];
let seq = 0;
for (const [ti, t] of terminals.entries()) {
  const times = Array.from({ length: perTerminal }, secondOfDay).sort((a, b) => a - b);
  const lines = ['sale_id,sold_at,store_id,terminal,sku,quantity,unit_price'];
  for (const s of times) {
    const p = productAt(r() * totalWeight);
    const qty = r() < 0.8 ? 1 : int(r, 2, 6);
    const id = `${DAY.replaceAll('-', '')}-${t.store}${t.terminal}-${String(++seq).padStart(7, '0')}`;
    lines.push(`${id},${DAY} ${hhmmss(s)},${t.store},${t.terminal},${p.sku},${qty},${money(p.cents)}`);
  }
  // The dirty rows the tills really produce, placed by the day's dice.
  const at = () => int(r, 1, lines.length - 1);
  if (ti === 1 || ti === 5) {
    const i = at();
    const f = lines[i].split(',');
    f[5] = pick(r, ['two', '-1', '1.5']);
    lines[i] = f.join(',');
    dirty.push({ rule: 'quantity', sale_id: f[0] });
  }
  if (ti === 2) {
    const i = at();
    const f = lines[i].split(',');
    f[4] = '';
    lines[i] = f.join(',');
    dirty.push({ rule: 'sku', sale_id: f[0] });
  }
  if (ti === 3 || ti === 6) {
    // The till sent a sale twice (a retry after a network blip): the same line again later on.
    const i = at();
    lines.splice(Math.min(lines.length, i + int(r, 1, 30)), 0, lines[i]);
    dirty.push({ rule: 'duplicate', sale_id: lines[i].split(',')[0] });
  }
  const gz = ti % 2 === 1;
  files.push({ name: `pos-${t.store}-${t.terminal}.csv${gz ? '.gz' : ''}`, text: lines.join('\r\n') + '\r\n', gz });
}

// ---- stock levels at close, per store: the inventory system's JSON export
const rs = rng(`stock ${DAY}`);
const stock = [];
for (const s of STORES)
  for (const p of products)
    stock.push({
      sku: p.sku,
      store: s.store_id,
      on_hand:
        rs() < 0.06 ? int(rs, 0, Math.max(0, p.reorder_level - 1)) : int(rs, p.reorder_level, p.reorder_level * 4),
    });

// ---- write it all, each file atomically (a reader never sees half a file)
const put = (path, data) => {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
};
mkdirSync(join(OUT, 'pos'), { recursive: true });
for (const f of files) put(join(OUT, 'pos', f.name), f.gz ? gzipSync(f.text, { level: 6 }) : f.text);
const esc = (s) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;');
put(
  join(OUT, 'catalogue.xml'),
  `<?xml version="1.0" encoding="UTF-8"?>\n<catalogue exported="${DAY}T01:00:00Z">\n` +
    products
      .map(
        (p) =>
          `  <product>\n    <sku>${p.sku}</sku>\n    <name>${esc(p.name)}</name>\n    <category>${p.category}</category>\n    <price>${money(p.cents)}</price>\n    <reorder_level>${p.reorder_level}</reorder_level>\n  </product>\n`,
      )
      .join('') +
    '</catalogue>\n',
);
put(join(OUT, 'stock.json'), JSON.stringify({ exported: `${DAY}T22:00:00Z`, levels: stock }, null, 1) + '\n');
put(
  join(OUT, 'stores.csv'),
  'store_id,name,city,terminals\n' +
    STORES.map((s) => `${s.store_id},${s.name},${s.city},${s.terminals}`).join('\n') +
    '\n',
);
put(
  join(OUT, 'expected.json'),
  JSON.stringify({ day: DAY, files: files.map((f) => f.name), products: products.length, dirty }, null, 1) + '\n',
);
process.stderr.write(
  `gen-day: ${DAY}: ${files.length} POS files, ${perTerminal * terminals.length} sales (+${dirty.filter((d) => d.rule === 'duplicate').length} repeated), ${products.length} products, ${stock.length} stock levels in ${OUT}\n`,
);
