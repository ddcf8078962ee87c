import { DataError, UsageError, type Origin } from './errors.js';

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
  const table: TableName = parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: parts[0] };
  refuseSystemSchema(table, text);
  return table;
}

/** Schemas PostgreSQL keeps for itself; bx names are quoted, so only the exact spelling is one. */
const SYSTEM_SCHEMA = /^(pg_catalog|information_schema|pg_toast(_temp_\d+)?)$/;

/**
 * pg_catalog's tables and views (PostgreSQL 13 to 18). pg_catalog comes first in every search
 * path, so an unqualified `pg_class` is pg_catalog.pg_class, whatever the user's schemas hold.
 * test/fix/ident.test.ts checks this list against the server's own catalog.
 */
export const CATALOG_RELATIONS: ReadonlySet<string> = new Set([
  'pg_aggregate',
  'pg_aios',
  'pg_am',
  'pg_amop',
  'pg_amproc',
  'pg_attrdef',
  'pg_attribute',
  'pg_auth_members',
  'pg_authid',
  'pg_available_extension_versions',
  'pg_available_extensions',
  'pg_backend_memory_contexts',
  'pg_cast',
  'pg_class',
  'pg_collation',
  'pg_config',
  'pg_constraint',
  'pg_conversion',
  'pg_cursors',
  'pg_database',
  'pg_db_role_setting',
  'pg_default_acl',
  'pg_depend',
  'pg_description',
  'pg_enum',
  'pg_event_trigger',
  'pg_extension',
  'pg_file_settings',
  'pg_foreign_data_wrapper',
  'pg_foreign_server',
  'pg_foreign_table',
  'pg_group',
  'pg_hba_file_rules',
  'pg_ident_file_mappings',
  'pg_index',
  'pg_indexes',
  'pg_inherits',
  'pg_init_privs',
  'pg_language',
  'pg_largeobject',
  'pg_largeobject_metadata',
  'pg_locks',
  'pg_matviews',
  'pg_namespace',
  'pg_opclass',
  'pg_operator',
  'pg_opfamily',
  'pg_parameter_acl',
  'pg_partitioned_table',
  'pg_pltemplate',
  'pg_policies',
  'pg_policy',
  'pg_prepared_statements',
  'pg_prepared_xacts',
  'pg_proc',
  'pg_publication',
  'pg_publication_namespace',
  'pg_publication_rel',
  'pg_publication_tables',
  'pg_range',
  'pg_replication_origin',
  'pg_replication_origin_status',
  'pg_replication_slots',
  'pg_rewrite',
  'pg_roles',
  'pg_rules',
  'pg_seclabel',
  'pg_seclabels',
  'pg_sequence',
  'pg_sequences',
  'pg_settings',
  'pg_shadow',
  'pg_shdepend',
  'pg_shdescription',
  'pg_shmem_allocations',
  'pg_shmem_allocations_numa',
  'pg_shseclabel',
  'pg_stat_activity',
  'pg_stat_all_indexes',
  'pg_stat_all_tables',
  'pg_stat_archiver',
  'pg_stat_bgwriter',
  'pg_stat_checkpointer',
  'pg_stat_database',
  'pg_stat_database_conflicts',
  'pg_stat_gssapi',
  'pg_stat_io',
  'pg_stat_progress_analyze',
  'pg_stat_progress_basebackup',
  'pg_stat_progress_cluster',
  'pg_stat_progress_copy',
  'pg_stat_progress_create_index',
  'pg_stat_progress_vacuum',
  'pg_stat_recovery_prefetch',
  'pg_stat_replication',
  'pg_stat_replication_slots',
  'pg_stat_slru',
  'pg_stat_ssl',
  'pg_stat_subscription',
  'pg_stat_subscription_stats',
  'pg_stat_sys_indexes',
  'pg_stat_sys_tables',
  'pg_stat_user_functions',
  'pg_stat_user_indexes',
  'pg_stat_user_tables',
  'pg_stat_wal',
  'pg_stat_wal_receiver',
  'pg_stat_xact_all_tables',
  'pg_stat_xact_sys_tables',
  'pg_stat_xact_user_functions',
  'pg_stat_xact_user_tables',
  'pg_statio_all_indexes',
  'pg_statio_all_sequences',
  'pg_statio_all_tables',
  'pg_statio_sys_indexes',
  'pg_statio_sys_sequences',
  'pg_statio_sys_tables',
  'pg_statio_user_indexes',
  'pg_statio_user_sequences',
  'pg_statio_user_tables',
  'pg_statistic',
  'pg_statistic_ext',
  'pg_statistic_ext_data',
  'pg_stats',
  'pg_stats_ext',
  'pg_stats_ext_exprs',
  'pg_subscription',
  'pg_subscription_rel',
  'pg_tables',
  'pg_tablespace',
  'pg_timezone_abbrevs',
  'pg_timezone_names',
  'pg_transform',
  'pg_trigger',
  'pg_ts_config',
  'pg_ts_config_map',
  'pg_ts_dict',
  'pg_ts_parser',
  'pg_ts_template',
  'pg_type',
  'pg_user',
  'pg_user_mapping',
  'pg_user_mappings',
  'pg_views',
  'pg_wait_events',
]);

/**
 * Refuses (exit 64, before any SQL runs) a table in a system schema, or an unqualified name
 * that resolves to a system catalog: a COPY or a --mode replace there would at best fail half
 * way, at worst (as a superuser) damage the catalog.
 */
export function refuseSystemSchema(
  table: TableName,
  text = table.schema !== undefined ? `${table.schema}.${table.name}` : table.name,
): void {
  if (table.schema !== undefined && SYSTEM_SCHEMA.test(table.schema)) {
    throw new UsageError(
      `--table ${JSON.stringify(text)}: ${table.schema} is a system schema; bx does not write to system catalogs`,
    );
  }
  if (table.schema === undefined && CATALOG_RELATIONS.has(table.name)) {
    throw new UsageError(
      `--table ${JSON.stringify(text)}: ${table.name} is the system catalog pg_catalog.${table.name}; name your table with its schema (public.${table.name}) to use that name`,
    );
  }
}

export const qualified = (t: TableName) =>
  t.schema !== undefined ? `${quoteIdent(t.schema)}.${quoteIdent(t.name)}` : quoteIdent(t.name);

/** PostgreSQL's NAMEDATALEN - 1: longer names are cut to this many bytes. */
export const MAX_NAME_BYTES = 63;
export const MAX_IDENT_BYTES = MAX_NAME_BYTES;

/** PostgreSQL keeps the first 63 bytes of a name; a longer field can never match a column. */
export function longNameHint(name: string): string {
  return Buffer.byteLength(name) > MAX_IDENT_BYTES
    ? `; the name is ${Buffer.byteLength(name)} bytes, longer than PostgreSQL's ${MAX_IDENT_BYTES}-byte limit`
    : '';
}

/** A name as PostgreSQL stores it: cut to 63 bytes, never inside a UTF-8 character. */
export function truncateIdent(name: string): string {
  const buf = Buffer.from(name);
  if (buf.length <= MAX_IDENT_BYTES) return name;
  let end = MAX_IDENT_BYTES;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString();
}
/** PostgreSQL's MaxHeapAttributeNumber: no table has more columns. */
export const MAX_COLUMNS = 1600;

/**
 * What stops a set of record fields from becoming the columns of a new table, as one DataError
 * naming every problem at once, or undefined: an empty name "" (at the line of its first
 * record), more than 1600 fields, names over 63 bytes (all of them, each with its length).
 * `first` maps each field name to where a record first had it. Checked before any SQL, so a
 * --create that cannot work leaves nothing behind and says why in one line.
 */
export function columnNameProblem(first: ReadonlyMap<string, Origin>): DataError | undefined {
  const empty = first.get('');
  if (empty)
    return new DataError(
      empty,
      '',
      'an empty field name cannot be a column name (rename it, e.g. with bx-clean --rename =NAME)',
    );
  const names = [...first.keys()].filter((k) => k !== '_file' && k !== '_line');
  if (names.length > MAX_COLUMNS) {
    return new DataError(
      first.get(names[MAX_COLUMNS]),
      undefined,
      `the records have ${names.length} fields; a PostgreSQL table has at most ${MAX_COLUMNS} columns (keep fewer, e.g. with bx-clean --keep)`,
    );
  }
  const long = names.filter((k) => Buffer.byteLength(k) > MAX_NAME_BYTES);
  if (long.length === 0) return undefined;
  // Each with the name it would become, and the field it would then collide with.
  const shown = long.slice(0, 5).map((k) => {
    const cut = truncateIdent(k);
    const other = names.find((o) => o !== k && truncateIdent(o) === cut);
    return `${JSON.stringify(k)} (${Buffer.byteLength(k)} bytes, cut to ${JSON.stringify(cut)}${other ? `, the same name as field ${JSON.stringify(other)}` : ''})`;
  });
  if (long.length > 5) shown.push(`and ${long.length - 5} more`);
  const what = long.length === 1 ? 'a field name is' : `${long.length} field names are`;
  return new DataError(
    first.get(long[0]),
    undefined,
    `${what} longer than PostgreSQL's ${MAX_NAME_BYTES}-byte limit for names, which would cut them: ${shown.join(', ')} (rename them, e.g. with bx-clean --rename)`,
  );
}
