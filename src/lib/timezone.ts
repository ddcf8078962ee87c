// Local wall-clock times in an IANA zone to UTC, for bx-clean --timezone: a datetime typed
// without an offset ("2026-03-29T02:30:00") is read as a local time in the zone and written as
// UTC ("…Z"). Intl (ICU's tz data, shipped with Node) knows the zone's offsets and DST rules.
//
// Two local times have no single answer, and the rule is java.time's (ZonedDateTime.of):
// - ambiguous (clocks go back, the hour repeats: 02:30 on 2026-10-25 in Paris happens twice):
//   the earlier instant, with the offset in force before the change (02:30+02:00);
// - nonexistent (clocks go forward, the hour is skipped: 02:30 on 2026-03-29 in Paris): the
//   time moved forward by the length of the gap, i.e. read with the offset in force before it
//   (02:30+01:00, which is 03:30+02:00).

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's canonical name, or undefined when Intl does not know it ("Mars/Olympus"). */
export function checkZone(zone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The zone's offset from UTC at instant `ms`, in milliseconds (Paris in summer: +7,200,000). */
export function zoneOffset(zone: string, ms: number): number {
  const parts = formatter(zone).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  let year = get('year');
  if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
  const wall = Date.UTC(year, get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  // Intl shows whole seconds: compare with the instant cut to its second.
  return wall - Math.floor(ms / 1000) * 1000;
}

export interface LocalTime {
  y: number;
  m: number; // 1-12
  d: number;
  H: number;
  M: number;
  S: number;
  ms?: number;
}

/** What localToUtc found: the instant, and whether the local time was ambiguous or skipped. */
export interface Resolved {
  ms: number;
  kind: 'unique' | 'ambiguous' | 'nonexistent';
}

const DAY = 86_400_000;

/** The UTC instant of a local wall-clock time in `zone`, by the rule at the top of this file. */
export function localToUtc(t: LocalTime, zone: string): Resolved {
  const d = new Date(0);
  d.setUTCFullYear(t.y, t.m - 1, t.d);
  d.setUTCHours(t.H, t.M, t.S, t.ms ?? 0);
  const wall = d.getTime();
  // No zone changes its offset twice within two days: the offsets a day before and a day after
  // are the only candidates.
  const before = zoneOffset(zone, wall - DAY);
  const after = zoneOffset(zone, wall + DAY);
  const found: number[] = [];
  for (const off of before === after ? [before] : [before, after]) {
    const ms = wall - off;
    if (zoneOffset(zone, ms) === off) found.push(ms);
  }
  if (found.length === 0) {
    // In no candidate's range. With one offset all around, the offset changed and changed
    // back within the two days: read the time with the offset in force at it.
    if (before === after) return { ms: wall - zoneOffset(zone, wall - before), kind: 'unique' };
    return { ms: wall - before, kind: 'nonexistent' };
  }
  found.sort((a, b) => a - b);
  return { ms: found[0], kind: found.length > 1 && found[0] !== found[1] ? 'ambiguous' : 'unique' };
}

const LOCAL_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?$/;

/**
 * A typed ISO datetime without an offset, read as local time in `zone`, as ISO UTC with the
 * fraction kept as written ("2026-07-15T12:00:00.5" in Paris → "2026-07-15T10:00:00.5Z"). A
 * value that has an offset or Z, or is no such datetime, comes back as it is.
 */
export function localIsoToUtc(iso: string, zone: string): string {
  const m = LOCAL_ISO.exec(iso);
  if (!m) return iso;
  const r = localToUtc({ y: +m[1], m: +m[2], d: +m[3], H: +m[4], M: +m[5], S: +m[6] }, zone);
  const u = new Date(r.ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const y = u.getUTCFullYear();
  const year = y >= 0 && y <= 9999 ? pad(y, 4) : (y < 0 ? '-' : '+') + pad(Math.abs(y), 6);
  return `${year}-${pad(u.getUTCMonth() + 1)}-${pad(u.getUTCDate())}T${pad(u.getUTCHours())}:${pad(u.getUTCMinutes())}:${pad(u.getUTCSeconds())}${m[7] ?? ''}Z`;
}
