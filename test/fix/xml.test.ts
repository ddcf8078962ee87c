// Issue 22, XML: the encoding the document declares is honoured, and what is not well-formed is
// refused wherever it is, not only inside records. Each input is read whole and in small pieces.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { Logger } from '../../src/lib/log.js';
import { ndjson, sh, tmp } from '../helpers.js';

const opts = (o: Partial<ReadOptions> = {}): ReadOptions => ({
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 20,
  maxDepth: 1000,
  ...o,
});

async function read(bytes: Buffer, piece: number, o: Partial<ReadOptions> = {}) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) chunks.push(bytes.subarray(i, i + piece));
  const ctx: ReadContext = {
    log: new Logger('test', new PassThrough(), { format: 'human', verbosity: 0, tty: false }),
    reject: (_r, f) => {
      throw new Error(`reject: ${f.message}`);
    },
  };
  const out: unknown[] = [];
  const xml = await readerFor('xml');
  for await (const b of xml({ name: 'in.xml', stream: Readable.from(chunks) }, opts(o), ctx))
    out.push(...b.records.map((r) => ({ ...r })));
  return out;
}

t.test('not well-formed anywhere in the document: refused with the line', async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      'a control character reference in a record',
      '<r><i>&#5;</i></r>',
      /in\.xml:1: "&#5;" is not a reference to an XML character/,
    ],
    ['&#xFFFE; outside any record', '<r>&#xFFFE;<i>1</i></r>', /not a reference to an XML character/],
    ['&#0; in an attribute of the root', '<r a="&#0;"><i>1</i></r>', /not a reference to an XML character/],
    ['a bare & between records', '<r>\n<i>1</i> A & B\n</r>', /in\.xml:2: a bare "&"/],
    ['an undefined entity between records', '<r><i>1</i>&nbsp;</r>', /undefined entity "&nbsp;"/],
    ['"]]>" in text between records', '<r><i>1</i>]]></r>', /"]]>" in text/],
    ['"]]>" in a record', '<r><i>a]]>b</i></r>', /"]]>" in text/],
    ['a raw control character', '<r><i>a\u0001b</i></r>', /character U\+0001 is not allowed/],
    ['a raw form feed outside records', '<r>\f<i>1</i></r>', /character U\+000C is not allowed/],
    ['a form feed inside a tag', '<r\f><i>1</i></r>', /not a valid tag|malformed attribute/],
    ['"--" in a comment before the root', '<!-- a -- b -->\n<r/>', /in\.xml:1: "--" inside a comment/],
    ['"--" in a comment inside the root', '<r>\n<!-- x--y --><i>1</i></r>', /in\.xml:2: "--" inside a comment/],
    ['a comment ending in "--->"', '<r><!-- x ---></r>', /"--" inside a comment/],
    ['text after the root', '<r><i>1</i></r>\ntrailing', /in\.xml:2: text outside the root element/],
    ['an element after the root', '<r/><s/>', /a second root element/],
    ['a duplicate attribute on the root', '<r a="1" a="2"><i>1</i></r>', /attribute "a" repeats/],
    ['an XML declaration not at the start', '\n<?xml version="1.0"?><r/>', /XML declaration must come first/],
    ['a malformed XML declaration', '<?xml encoding="UTF-8" version="1.0"?><r/>', /malformed XML declaration/],
    ['a reserved PI target', '<r><?XML x?></r>', /reserved processing instruction target/],
    ['a PI without a target', '<r><? ?></r>', /without a target/],
    ['a DOCTYPE with a comment in its name part', '<!DOCTYPE doc -- a comment -- []>\n<doc/>', /malformed DOCTYPE/],
    [
      'a DOCTYPE with a bad content model',
      '<!DOCTYPE doc [\n<!ELEMENT doc (a, (b) | c)?>\n]>\n<doc/>',
      /malformed DOCTYPE/,
    ],
    [
      'a DOCTYPE with a bad ATTLIST',
      '<!DOCTYPE doc [\n<!ATTLIST doc a1 (foo,bar) #IMPLIED>\n]>\n<doc/>',
      /malformed DOCTYPE/,
    ],
    ['a PUBLIC id with a bad character', '<!DOCTYPE doc PUBLIC "[" "x.dtd">\n<doc/>', /malformed DOCTYPE/],
    ['a DOCTYPE after the root', '<doc/><!DOCTYPE doc>', /DOCTYPE after the root/],
    ['two DOCTYPEs', '<!DOCTYPE doc><!DOCTYPE doc><doc/>', /a second DOCTYPE/],
  ];
  for (const [what, text, re] of cases) {
    const bytes = Buffer.from(text, 'utf8');
    for (const piece of [bytes.length, 1, 3]) await t.rejects(read(bytes, piece), re, `${what} (${piece}-byte pieces)`);
  }
});

t.test('well-formed documents still read', async (t) => {
  const cases: [string, string, unknown[]][] = [
    ['character references with leading zeros', '<r><i>&#x0000041;&#0066;</i></r>', [{ '#text': 'AB' }]],
    [
      'a DOCTYPE with an internal subset',
      '<!DOCTYPE r [\n<!ELEMENT r (i)*>\n<!ELEMENT i (#PCDATA)>\n<!ATTLIST i a CDATA #IMPLIED b (x|y) "x">\n<!-- c -->\n<?pi x?>\n]>\n<r><i a="1">v</i></r>',
      [{ '@a': '1', '#text': 'v' }],
    ],
    [
      'a DOCTYPE with an external id',
      '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<!DOCTYPE r PUBLIC "-//X//DTD r//EN" "r.dtd">\n<r><i>1</i></r>',
      [{ '#text': '1' }],
    ],
    ['"]]" and ">" in text', '<r><i>a]]b > c ]</i></r>', [{ '#text': 'a]]b > c ]' }]],
    [
      'comments and PIs around the root',
      '<!-- a - b -->\n<?pi data?>\n<r><i>1</i></r>\n<!-- after -->\n<?done?>\n',
      [{ '#text': '1' }],
    ],
  ];
  for (const [what, text, want] of cases) {
    const bytes = Buffer.from(text, 'utf8');
    for (const piece of [bytes.length, 1, 2, 5])
      t.same(await read(bytes, piece), want, `${what} (${piece}-byte pieces)`);
  }
});

t.test('the declared encoding is honoured: ISO-8859-1, windows-1252, UTF-16 with and without a BOM', async (t) => {
  const doc = (enc: string) => `<?xml version="1.0" encoding="${enc}"?>\n<r><i n="é">café € ü</i></r>\n`;
  const want = [{ '@n': 'é', '#text': 'café € ü' }];
  const utf16le = (s: string) => Buffer.from(s, 'utf16le');
  const utf16be = (s: string) => Buffer.from(s, 'utf16le').swap16();
  const cases: [string, Buffer, unknown[]][] = [
    ['ISO-8859-1', Buffer.from(doc('ISO-8859-1').replace(' €', ''), 'latin1'), [{ '@n': 'é', '#text': 'café ü' }]],
    [
      'windows-1252',
      Buffer.concat([
        Buffer.from(doc('windows-1252').split('€')[0], 'latin1'),
        Buffer.from([0x80]),
        Buffer.from(doc('windows-1252').split('€')[1], 'latin1'),
      ]),
      want,
    ],
    ['UTF-8 declared', Buffer.from(doc('UTF-8')), want],
    ['UTF-16LE with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), utf16le(doc('UTF-16'))]), want],
    ['UTF-16BE with a BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(doc('UTF-16'))]), want],
    ['UTF-16LE without a BOM', utf16le(doc('UTF-16LE')), want],
    ['UTF-16BE without a BOM', utf16be(doc('UTF-16BE')), want],
  ];
  for (const [what, bytes, w] of cases) {
    for (const piece of [bytes.length, 1, 3, 7]) t.same(await read(bytes, piece), w, `${what} (${piece}-byte pieces)`);
  }
  await t.rejects(
    read(Buffer.from(doc('EBCDIC-XYZ')), 1000),
    /in\.xml:1: the XML declaration's encoding "EBCDIC-XYZ" is not one bx reads/,
  );
  await t.rejects(read(Buffer.from(doc('UTF-16')), 1000), /says UTF-16, but the document is not in UTF-16/);
  // Declared ISO-8859-1 wins over the UTF-8 default: 0xE9 is é, not invalid UTF-8.
  const dir = tmp(t);
  const f = join(dir, 'latin.xml');
  writeFileSync(f, Buffer.from('<?xml version="1.0" encoding="iso-8859-1"?><r><i>\xe9</i></r>', 'latin1'));
  const r = await sh(`bx-extract ${f}`);
  t.equal(r.code, 0, r.stderr);
  t.same(ndjson(r.stdout), [{ '#text': 'é' }]);
});
