// XML files, built with fast-xml-parser's XMLBuilder, in the shape bx-extract's XML reader
// (formats/xml.ts, DESIGN.md "The record stream") reads back with --record-path ROOT.RECORD:
//
//   <?xml version="1.0" encoding="UTF-8"?>
//   <records xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
//     <record><id>1</id><Order_x0020_Date>2026-11-23</Order_x0020_Date><note xsi:nil="true"/></record>
//   </records>
//
// One record a line. Values: strings, numbers and booleans as their text (bx-extract reads every
// XML value back as a string); null as an empty element with xsi:nil="true" (read back as null);
// an object as nested elements; an array as the element repeated (an array inside an array has
// no element form and goes as its JSON text; an empty array writes nothing); "" and {} as an
// empty element (read back as ""). A key "@name" with a string, number or boolean becomes an
// attribute and "#text" the element's text, as bx-extract reads them.
//
// Element names: a key that is not an XML NCName is mapped as SQL/XML (ISO/IEC 9075-14) and
// PostgreSQL's table_to_xml map it: each character a name cannot hold becomes _xHHHH_ (its code
// point in hex: "Order Date" → Order_x0020_Date, "2019" → _x0032_019), and an "_x" already in
// the key becomes _x005F_x, so the mapping is one to one and xmlNameToKey() reverses it. Unlike
// PostgreSQL, a colon is mapped too (_x003A_): a prefix without a namespace declaration would
// make the document unreadable to namespace-aware parsers.
//
// Escaping: & < > in text (so "]]>" cannot appear), and CR as &#13; (a parser would read a bare
// CR as LF); in attributes also " ' TAB LF. Characters XML 1.0 cannot hold at all, even as
// references (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF, lone surrogates),
// are refused: a DataError naming the record's line and the field, and nothing is left behind.
import type { Writable } from 'node:stream';
import { XMLBuilder } from 'fast-xml-parser';
import { DataError, UsageError } from '../lib/errors.js';
import { DEFAULT_MAX_DEPTH } from '../lib/json.js';
import { originOfRecord } from '../lib/lineage.js';
import type { Batch, Rec } from '../lib/stream.js';
import { keysOf, recordsOf } from './csv-write.js';
import { put, type FormatWriter, type WriteOptions, type Writer } from './writer.js';

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

// XML 1.0 (fifth edition) NameStartChar and NameChar, without the colon (an NCName).
const START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const MORE = `${START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040`;
const NCNAME = new RegExp(`^[${START}][${MORE}]*$`, 'u');
const START_CHAR = new RegExp(`^[${START}]$`, 'u');
const NAME_CHAR = new RegExp(`^[${MORE}]$`, 'u');

export const isXmlName = (s: string): boolean => NCNAME.test(s);

/** A key as an element name (SQL/XML mapping, see the head of this file). */
export function keyToXmlName(key: string): string {
  if (NCNAME.test(key) && !key.includes('_x')) return key;
  const chars = [...key];
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    // "_x" in the key: its "_" becomes _x005F_, so that the result decodes unambiguously.
    if (ch === '_' && chars[i + 1] === 'x') out += '_x005F_';
    else if (i === 0 ? START_CHAR.test(ch) : NAME_CHAR.test(ch)) out += ch;
    else {
      const cp = ch.codePointAt(0)!;
      out += `_x${cp
        .toString(16)
        .toUpperCase()
        .padStart(cp > 0xffff ? 6 : 4, '0')}_`;
    }
  }
  return out;
}

/** Reverses keyToXmlName: _xHHHH_ and _xHHHHHH_ back to their characters. */
export const xmlNameToKey = (name: string): string =>
  name.replace(/_x([0-9A-F]{4})_|_x([0-9A-F]{6})_/g, (_m, h4: string | undefined, h6: string | undefined) =>
    String.fromCodePoint(parseInt(h4 ?? h6!, 16)),
  );

// Characters XML 1.0 cannot carry (§2.2 Char), and those a value must give as references.
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const TEXT_SPECIAL = /[&<>\r]/;
const TEXT_ESC: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '\r': '&#13;',
  '\t': '&#9;',
  '\n': '&#10;',
};
const ATTR_SPECIAL = /[&<>\r\t\n]/;

class XmlWriter implements FormatWriter {
  private readonly builder: XMLBuilder;
  private started = false;
  private readonly names = new Map<string, string>();
  private at: { rec: Rec; name: string; line: number } = { rec: {}, name: '', line: 0 };

  constructor(
    private readonly out: Writable,
    private readonly opts: WriteOptions,
  ) {
    for (const [flag, v] of [
      ['xml-root', opts.xmlRoot],
      ['xml-record', opts.xmlRecord],
    ] as const) {
      if (!isXmlName(v))
        throw new UsageError(
          `--${flag} ${JSON.stringify(v)}: not an XML element name (a letter or _ first, then letters, digits, _ . -; no spaces or colons)`,
        );
    }
    this.builder = new XMLBuilder({
      ignoreAttributes: false,
      attributeNamePrefix: '@',
      textNodeName: '#text',
      // Values arrive escaped by this module (escapeText/escapeAttr), which also refuses what XML
      // cannot hold; the builder adds the quoting of attribute values.
      processEntities: false,
      suppressEmptyNode: true,
      suppressBooleanAttributes: false,
      format: false,
      maxNestedTags: DEFAULT_MAX_DEPTH + 2,
    });
  }

  async write(b: Batch): Promise<void> {
    const recs = recordsOf(b);
    let text = '';
    if (!this.started) text += this.head();
    const tag = this.opts.xmlRecord;
    for (let i = 0; i < recs.length; i++) {
      this.at = { rec: recs[i], name: b.name, line: b.lines[i] };
      const node = this.element(recs[i], '') as Record<string, unknown>;
      text += '  ' + this.builder.build({ [tag]: node }) + '\n';
    }
    await put(this.out, text);
  }

  async end(): Promise<void> {
    await put(this.out, (this.started ? '' : this.head()) + `</${this.opts.xmlRoot}>\n`);
  }

  private head(): string {
    this.started = true;
    return `<?xml version="1.0" encoding="UTF-8"?>\n<${this.opts.xmlRoot} xmlns:xsi="${XSI}">\n`;
  }

  private name(key: string): string {
    let n = this.names.get(key);
    if (n === undefined) {
      if (key === '') throw this.error('', 'an empty field name has no XML element name');
      n = keyToXmlName(key);
      // Field names repeat on every record; the map stays small unless every record has new ones.
      if (this.names.size < 10000) this.names.set(key, n);
    }
    return n;
  }

  /** A record or nested object as the builder's object: element names mapped, values escaped. */
  private element(obj: Rec, path: string): unknown {
    const node: Record<string, unknown> = {};
    for (const k of keysOf(obj)) {
      const v = obj[k];
      const p = path ? `${path}.${k}` : k;
      if (v === undefined) continue;
      if (k.length > 1 && k[0] === '@' && isScalar(v)) {
        node['@' + this.name(k.slice(1))] = this.escape(String(v), p, true);
      } else if (k === '#text' && isScalar(v)) {
        node['#text'] = this.escape(String(v), p, false);
      } else {
        node[this.name(k)] = this.value(v, p);
      }
    }
    return node;
  }

  private value(v: unknown, path: string): unknown {
    if (v === null) return { '@xsi:nil': 'true' };
    if (typeof v === 'string') return this.escape(v, path, false);
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v))
      return v.map((x) => (Array.isArray(x) ? this.escape(JSON.stringify(x), path, false) : this.value(x, path)));
    return this.element(v as Rec, path);
  }

  private escape(s: string, path: string, attr: boolean): string {
    if (FORBIDDEN.test(s) || !(s as unknown as { isWellFormed(): boolean }).isWellFormed()) {
      const m = FORBIDDEN.exec(s);
      const what = m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : 'a lone surrogate';
      throw this.error(
        path,
        `the value holds ${what}, which XML 1.0 cannot carry (not even as a character reference); remove it first (bx-clean)`,
      );
    }
    if (!(attr ? ATTR_SPECIAL : TEXT_SPECIAL).test(s)) return s;
    return s.replace(attr ? /[&<>\r\t\n]/g : /[&<>\r]/g, (c) => TEXT_ESC[c]);
  }

  private error(field: string, detail: string): DataError {
    return new DataError(originOfRecord(this.at.rec, this.at.name, this.at.line), field || undefined, detail);
  }
}

const isScalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

export const xmlWriter: Writer = (out, opts) => new XmlWriter(out, opts);
