import { UsageError } from './errors.js';

/** A PostgreSQL identifier, always double-quoted: no name can ever inject SQL. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new UsageError('an empty name is not a valid identifier');
  if (name.includes('\0')) throw new UsageError(`identifier ${JSON.stringify(name)} holds a NUL byte`);
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for SQL text (standard_conforming_strings on, as in every supported PostgreSQL). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new UsageError('a value holds a NUL byte');
  return `'${value.replace(/'/g, "''")}'`;
}

export interface TableName {
  schema?: string;
  name: string;
}

/**
 * Parses `--table` text: `name`, `schema.name`, or either part double-quoted to keep dots,
 * spaces or case (`"My Schema"."Sales.2026"`). Unquoted parts are kept as written (not folded
 * to lower case): bx creates and finds tables by the exact name the user typed.
 */
export function parseTableName(text: string): TableName {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    if (text[i] === '"') {
      let j = i + 1;
      let part = '';
      for (;;) {
        if (j >= text.length) throw new UsageError(`--table ${JSON.stringify(text)}: unterminated quote`);
        if (text[j] === '"') {
          if (text[j + 1] === '"') {
            part += '"';
            j += 2;
            continue;
          }
          break;
        }
        part += text[j++];
      }
      parts.push(part);
      i = j + 1;
    } else {
      const dot = text.indexOf('.', i);
      const end = dot === -1 ? text.length : dot;
      parts.push(text.slice(i, end));
      i = end;
    }
    if (i >= text.length) break;
    if (text[i] !== '.') throw new UsageError(`--table ${JSON.stringify(text)}: expected "." after a quoted name`);
    i++;
  }
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new UsageError(`--table ${JSON.stringify(text)}: expected name or schema.name`);
  }
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: parts[0] };
}

export const qualified = (t: TableName) => (t.schema !== undefined ? `${quoteIdent(t.schema)}.${quoteIdent(t.name)}` : quoteIdent(t.name));
