// src/lib/timezone.ts, for bx-clean --timezone: local times to UTC by the zone's DST rules, the
// ambiguous hour read as its earlier instant, the skipped hour moved forward by the gap.
import t from 'tap';
import { checkZone, localIsoToUtc, localToUtc, zoneOffset } from '../../src/lib/timezone.js';

t.test('local ISO datetimes to UTC', async (t) => {
  const cases: [string, string, string][] = [
    ['2026-01-15T12:00:00', 'Europe/Paris', '2026-01-15T11:00:00Z'],
    ['2026-07-15T12:00:00', 'Europe/Paris', '2026-07-15T10:00:00Z'],
    // skipped: 02:00 → 03:00 on 2026-03-29; 02:30 is read as 03:30 CEST
    ['2026-03-29T02:30:00', 'Europe/Paris', '2026-03-29T01:30:00Z'],
    // repeated: 03:00 → 02:00 on 2026-10-25; the earlier 02:30 (CEST)
    ['2026-10-25T02:30:00', 'Europe/Paris', '2026-10-25T00:30:00Z'],
    ['2026-10-25T03:30:00', 'Europe/Paris', '2026-10-25T02:30:00Z'],
    ['2026-03-08T02:30:00', 'America/New_York', '2026-03-08T07:30:00Z'],
    ['2026-11-01T01:30:00', 'America/New_York', '2026-11-01T05:30:00Z'],
    ['2026-07-15T12:00:00.250', 'Asia/Kolkata', '2026-07-15T06:30:00.250Z'],
    // half-hour DST: +11 in summer, +10:30 in winter
    ['2026-04-05T01:45:00', 'Australia/Lord_Howe', '2026-04-04T14:45:00Z'],
    ['2026-10-04T02:15:00', 'Australia/Lord_Howe', '2026-10-03T15:45:00Z'],
    ['2024-02-29T23:59:59', 'UTC', '2024-02-29T23:59:59Z'],
    ['2026-12-31T23:30:00', 'Pacific/Kiritimati', '2026-12-31T09:30:00Z'],
    // Paris kept local mean time (+00:09:21) until 1911
    ['1900-01-01T00:00:00', 'Europe/Paris', '1899-12-31T23:50:39Z'],
  ];
  for (const [local, zone, utc] of cases) t.equal(localIsoToUtc(local, zone), utc, `${local} in ${zone}`);
  for (const v of ['2026-07-15T12:00:00Z', '2026-07-15T12:00:00+02:00', '2026-07-15', 'not a date'])
    t.equal(localIsoToUtc(v, 'Europe/Paris'), v, `${v} unchanged`);
});

t.test('ambiguous and nonexistent local times are told apart', async (t) => {
  t.equal(localToUtc({ y: 2026, m: 10, d: 25, H: 2, M: 30, S: 0 }, 'Europe/Paris').kind, 'ambiguous');
  t.equal(localToUtc({ y: 2026, m: 3, d: 29, H: 2, M: 30, S: 0 }, 'Europe/Paris').kind, 'nonexistent');
  t.equal(localToUtc({ y: 2026, m: 6, d: 1, H: 2, M: 30, S: 0 }, 'Europe/Paris').kind, 'unique');
  t.equal(zoneOffset('Europe/Paris', Date.UTC(2026, 6, 1)), 2 * 3600_000);
  t.equal(zoneOffset('Asia/Kolkata', Date.UTC(2026, 0, 1)), 5.5 * 3600_000);
});

t.test('zones: names Intl knows, in any case; others refused', async (t) => {
  t.equal(checkZone('Europe/Paris'), 'Europe/Paris');
  t.equal(checkZone('europe/paris'), 'Europe/Paris');
  t.equal(checkZone('UTC'), 'UTC');
  t.equal(checkZone('Mars/Olympus'), undefined);
  t.equal(checkZone(''), undefined);
});
