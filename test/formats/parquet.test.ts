// Parquet value conversions and lake paths, without files: calendars against Date, decimals
// against BigInt, hive escaping against DuckDB's form, column plans against bad values.
import t from 'tap';
import { hiveEscape, hiveFields, hiveUnescape, HIVE_NULL, isHidden } from '../../src/formats/parquet-files.js';
import {
  bigintFromBytes,
  dateFromDays,
  daysFromCivil,
  decimalBytes,
  intValue,
  parseDateDays,
  parseTimestampMicros,
  planColumn,
  timestampText,
  timeText,
} from '../../src/formats/parquet-types.js';

const at = { file: 'in.ndjson', line: 7 };

t.test('dates: days ⇄ YYYY-MM-DD agree with Date over 1600–2400, every 13th day', async (t) => {
  let bad = 0;
  for (let d = -135000; d < 157000; d += 13) {
    const want = new Date(d * 86400000).toISOString().slice(0, 10);
    if (dateFromDays(d) !== want || parseDateDays(want) !== d) bad++;
  }
  t.equal(bad, 0);
  t.equal(daysFromCivil(1970, 1, 1), 0);
  t.equal(parseDateDays('2026-02-29'), undefined, 'no rollover into March');
  t.equal(parseDateDays('2024-02-29'), daysFromCivil(2024, 2, 29));
});

t.test('timestamps: every unit, negative instants, trailing zeros dropped, Z only when UTC-adjusted', async (t) => {
  t.equal(timestampText(0n, 'MICROS', false), '1970-01-01T00:00:00');
  t.equal(timestampText(-1n, 'MICROS', false), '1969-12-31T23:59:59.999999');
  t.equal(timestampText(1795428672123456n, 'MICROS', true), '2026-11-23T10:11:12.123456Z');
  t.equal(timestampText(1795428672120n, 'MILLIS', true), '2026-11-23T10:11:12.12Z');
  t.equal(timestampText(1795428672123456789n, 'NANOS', false), '2026-11-23T10:11:12.123456789');
  t.equal(timeText(86399999999n, 'MICROS'), '23:59:59.999999');
  t.same(parseTimestampMicros('2026-11-23T12:11:12.123456+02:00'), { us: 1795428672123456n, zone: true });
  t.same(parseTimestampMicros('2026-11-23 10:11:12'), { us: 1795428672000000n, zone: false });
  t.match(parseTimestampMicros('2026-11-23T10:11:12.1234567'), /more than 6 fraction digits/);
  t.match(parseTimestampMicros('2026-13-01T00:00:00'), /not a valid/);
  for (let i = 0; i < 2000; i++) {
    const us = BigInt(Math.floor((Math.random() - 0.5) * 2 ** 52)) * 997n;
    const r = parseTimestampMicros(timestampText(us, 'MICROS', true));
    if (typeof r === 'string' || r.us !== us) return t.fail(`µs ${us} does not round-trip`);
  }
});

t.test('decimals: big-endian two’s complement of any width; integers beyond 2^53 become strings', async (t) => {
  t.equal(bigintFromBytes(new Uint8Array([0xff])), -1n);
  t.equal(bigintFromBytes(new Uint8Array([0x00, 0x80])), 128n);
  const v = -12345678901234567891234567891234567891n;
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigInt64(0, v >> 64n);
  new DataView(bytes.buffer).setBigUint64(8, BigInt.asUintN(64, v));
  t.equal(bigintFromBytes(bytes), v);
  t.equal(intValue(9007199254740991n), 9007199254740991);
  t.equal(intValue(9007199254740993n), '9007199254740993');
  t.equal(decimalBytes(38), 16);
  t.equal(decimalBytes(18), 8);
  t.equal(decimalBytes(9), 4);
});

t.test('column plans: exact encodings, and one-line data errors naming line and field', async (t) => {
  const dec = planColumn({ name: 'amount', type: 'number', 'bx:scale': 2, 'bx:precision': 18 });
  t.equal(dec.element.type, 'INT64');
  // The unscaled value: a number while a double holds it exactly (no BigInt per value), else a bigint.
  t.equal(dec.encode('12.3', at), 1230);
  t.equal(dec.encode(0.1, at), 10, 'a JSON number by its shortest text, not its binary value');
  t.equal(dec.encode('-0.00', at), 0);
  t.equal(dec.encode('9999999999999999.99', at), 999999999999999999n, 'beyond 2^53: a bigint, exact');
  t.equal(dec.encode('-90071992547409.93', at), -9007199254740993n);
  t.equal(dec.encode('1.500', at), 150, 'trailing zeros past the scale');
  t.throws(
    () => dec.encode('1.234', at),
    /in\.ndjson:7: field "amount": more fraction digits than the column's scale 2/,
  );
  t.throws(() => dec.encode('1234567890123456789', at), /more digits than DECIMAL\(18,2\)/);
  const wide = planColumn({ name: 'w', type: 'number', 'bx:scale': 10 });
  t.equal(wide.element.type, 'FIXED_LEN_BYTE_ARRAY');
  t.equal(wide.element.type_length, 16);
  t.equal(wide.encode('-12345678901234567891.1234567891', at), -123456789012345678911234567891n);
  const i32 = planColumn({ name: 'qty', type: 'integer' });
  t.throws(() => i32.encode(2147483648, at), /outside INT32/);
  t.throws(() => i32.encode('x', at), /field "qty": expected an integer, got "x"/);
  const i64 = planColumn({ name: 'id', type: 'integer', 'bx:pgType': 'bigint' });
  t.equal(i64.encode('9223372036854775807', at), 9223372036854775807n);
  const ts = planColumn({ name: 'ts', type: 'datetime', 'bx:pgType': 'timestamp' });
  t.same(ts.element.logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MICROS' });
  t.throws(() => ts.encode('2026-11-23T10:00:00Z', at), /with a zone in a column without one/);
  const tz = planColumn({ name: 'tz', type: 'datetime' });
  // µs as a number while a double holds them exactly (no BigInt per value), else a bigint.
  t.equal(tz.encode('2026-11-23T10:00:00Z', at), 1795428000000000);
  t.equal(tz.encode('2300-01-01T00:00:00.000001Z', at), 10413792000000001n);
  t.equal(i64.encode('123456789012345', at), 123456789012345);
  t.equal(planColumn({ name: 'd', type: 'date' }).encode('1970-01-02', at), 1);
  t.equal(planColumn({ name: 's', type: 'string' }).encode(12, at), '12');
});

t.test('hive paths: DuckDB escaping, null as the default partition, hidden entries', async (t) => {
  t.equal(hiveEscape('a/b=c d%'), 'a%2Fb%3Dc%20d%25');
  t.equal(hiveUnescape('a%2Fb%3Dc%20d%25'), 'a/b=c d%');
  t.equal(hiveEscape(null), HIVE_NULL);
  t.equal(hiveUnescape(HIVE_NULL), null);
  t.equal(hiveEscape('2026-11-23'), '2026-11-23');
  t.same(hiveFields('lake/sales/sale_date=2026-11-23/store=S%2F1/part-0.parquet'), [
    ['sale_date', '2026-11-23'],
    ['store', 'S/1'],
  ]);
  t.ok(isHidden('.bx'));
  t.ok(isHidden('_SUCCESS'));
  t.notOk(isHidden('sale_date=2026-11-23'));
});
