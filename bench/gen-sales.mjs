#!/usr/bin/env node
// Generates a point-of-sale file for the benchmarks: N rows of 12 fields (~130 bytes of CSV a
// row), deterministic (a fixed-seed PRNG), as CSV (default) or NDJSON.
//   node bench/gen-sales.mjs 1000000 > bench/out/sales.csv
//   node bench/gen-sales.mjs 1000000 ndjson > bench/out/sales.ndjson
process.stdout.on('error', () => process.exit(0));
const rows = Number(process.argv[2] ?? 1_000_000);
const format = process.argv[3] ?? 'csv';
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const pick = (a) => a[Math.floor(rnd() * a.length)];
const categories = ['Furniture', 'Office Supplies', 'Technology', 'Grocery', 'Garden', 'Toys'];
const payments = ['card', 'cash', 'voucher', 'mobile'];
const products = Array.from({ length: 5000 }, (_, i) => ({
  id: `P-${String(i).padStart(5, '0')}`,
  name: `${pick(['Deluxe', 'Basic', 'Eco', 'Pro', 'Mini'])} ${pick(['Chair', 'Stapler', 'Phone', 'Lamp', 'Desk, oak', 'Cable 2"'])} ${i}`,
  category: pick(categories),
  price: (1 + Math.floor(rnd() * 50000) / 100).toFixed(2),
}));
const header = [
  'sale_id',
  'sale_date',
  'sold_at',
  'store_id',
  'register',
  'product_id',
  'product_name',
  'category',
  'quantity',
  'unit_price',
  'discount',
  'payment',
];
const csvField = (s) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const out = [];
const flush = () => {
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  out.length = 0;
};
if (format === 'csv') out.push(header.join(','));
for (let i = 1; i <= rows; i++) {
  const p = pick(products);
  const day = 1 + (i % 28);
  const date = `2026-11-${String(day).padStart(2, '0')}`;
  const time = `${String(8 + Math.floor(rnd() * 12)).padStart(2, '0')}:${String(Math.floor(rnd() * 60)).padStart(2, '0')}:${String(Math.floor(rnd() * 60)).padStart(2, '0')}`;
  const rec = [
    String(i),
    date,
    `${date}T${time}Z`,
    `S${1 + Math.floor(rnd() * 40)}`,
    String(1 + Math.floor(rnd() * 8)),
    p.id,
    p.name,
    p.category,
    String(1 + Math.floor(rnd() * 9)),
    p.price,
    pick(['0', '0', '0', '0.1', '0.15', '0.2']),
    pick(payments),
  ];
  if (format === 'csv') out.push(rec.map(csvField).join(','));
  else out.push(JSON.stringify(Object.fromEntries(header.map((h, k) => [h, rec[k]]))));
  if (out.length >= 5000) flush();
}
flush();
