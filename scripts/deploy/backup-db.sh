#!/usr/bin/env bash
# Dump the custom-gpt-adapter database with pg_dump (custom format), then print the dump's size
# and every table's row count, so a restore can be checked against them.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
Usage: $PROGRAM --database-url URL [--output FILE] [--dry-run]

Back up the PostgreSQL database with pg_dump --format=custom (restore it with restore-db.sh).

Options:
  --database-url URL  the database; SQLAlchemy URLs (postgresql+asyncpg://...) are accepted
                      and converted to libpq form. Default: \$CGA_DATABASE_URL.
  --output FILE       where to write the dump (default: ./cga-<db>-<UTC time>.dump)
  --dry-run           print the pg_dump command (password hidden) without connecting
  -h, --help          show this help

pg_dump and psql are taken from PATH, else from /usr/lib/postgresql/*/bin.
EOF
}

database_url="${CGA_DATABASE_URL:-}"
output=""
dry_run=false
while [ "$#" -gt 0 ]; do
	case "$1" in
	--database-url)
		need_value "$@"
		database_url=$2
		shift 2
		;;
	--database-url=*)
		database_url=${1#*=}
		shift
		;;
	--output)
		need_value "$@"
		output=$2
		shift 2
		;;
	--output=*)
		output=${1#*=}
		shift
		;;
	--dry-run)
		dry_run=true
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[ -n "$database_url" ] || usage_error "--database-url is required (or set CGA_DATABASE_URL)"
parse_database_url "$database_url"
pg_dump=$(find_pg_tool pg_dump)
psql=$(find_pg_tool psql)
[ -n "$output" ] || output="cga-${DATABASE_NAME}-$(date -u +%Y%m%dT%H%M%SZ).dump"

command=("$pg_dump" --format=custom --no-password "--file=$output" "--dbname=$LIBPQ_URL")
if $dry_run; then
	printf 'dry run: would back up database %s to %s with:\n  ' "$DATABASE_NAME" "$output"
	print_command "${command[@]}"
	exit 0
fi

output_dir=$(dirname "$output")
[ -d "$output_dir" ] || die "output directory $output_dir does not exist"
[ ! -e "$output" ] || die "$output already exists; choose another --output"

# A dump that fails halfway must not look like a backup.
partial="$output.partial"
trap 'rm -f "$partial"' EXIT
"$pg_dump" --format=custom --no-password "--file=$partial" "--dbname=$LIBPQ_URL" ||
	die "pg_dump failed for database $DATABASE_NAME (see the message above)"
mv "$partial" "$output"
trap - EXIT

size=$(wc -c <"$output" | tr -d ' ')
counts=$(table_row_counts "$psql" "$LIBPQ_URL") || die "could not count the rows of database $DATABASE_NAME"
printf 'backup of database %s written to %s (%s)\n' "$DATABASE_NAME" "$output" "$(human_size "$size")"
printf 'rows per table at the time of the backup:\n'
print_row_counts "$counts"
