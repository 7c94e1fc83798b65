#!/usr/bin/env bash
# Restore a dump written by backup-db.sh into a database, replacing the objects it contains, then
# print every table's row count to compare with the ones backup-db.sh printed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
Usage: $PROGRAM --database-url URL --input FILE [--yes] [--dry-run]

Restore a pg_dump custom-format dump with pg_restore --clean --if-exists --no-owner, in one
transaction: the tables in the dump are dropped and recreated with the dump's rows.
Stop the services (or scale them to zero) first.

Options:
  --database-url URL  the target database; SQLAlchemy URLs (postgresql+asyncpg://...) are
                      accepted. Default: \$CGA_DATABASE_URL.
  --input FILE        the dump written by backup-db.sh
  --yes               do not ask for confirmation (required when stdin is not a terminal)
  --dry-run           check the dump and print the pg_restore command without changing anything
  -h, --help          show this help

pg_restore and psql are taken from PATH, else from /usr/lib/postgresql/*/bin.
EOF
}

database_url="${CGA_DATABASE_URL:-}"
input=""
assume_yes=false
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
	--input)
		need_value "$@"
		input=$2
		shift 2
		;;
	--input=*)
		input=${1#*=}
		shift
		;;
	--yes | -y)
		assume_yes=true
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
[ -n "$input" ] || usage_error "--input is required"
[ -f "$input" ] || die "dump file $input not found"
parse_database_url "$database_url"
pg_restore=$(find_pg_tool pg_restore)
psql=$(find_pg_tool psql)

# Reading the table of contents proves the file is a custom-format dump before anything is
# dropped.
contents=$("$pg_restore" --list "$input" 2>/dev/null) ||
	die "$input is not a pg_dump custom-format dump (made by backup-db.sh)"
entries=$(printf '%s\n' "$contents" | grep -c ' TABLE DATA ' || true)

command=("$pg_restore" --clean --if-exists --no-owner --single-transaction --exit-on-error
	--no-password "--dbname=$LIBPQ_URL" "$input")
if $dry_run; then
	printf 'dry run: %s holds %s tables of data; would restore it into database %s with:\n  ' \
		"$input" "$entries" "$DATABASE_NAME"
	print_command "${command[@]}"
	exit 0
fi

if ! $assume_yes; then
	[ -t 0 ] || die "refusing to restore without confirmation: stdin is not a terminal (pass --yes)"
	printf 'This replaces the tables of database %s with the contents of %s.\n' "$DATABASE_NAME" "$input"
	read -r -p "Type the database name ($DATABASE_NAME) to continue: " answer
	[ "$answer" = "$DATABASE_NAME" ] || die "not confirmed; nothing was changed"
fi

"${command[@]}" || die "pg_restore failed; the transaction was rolled back and database $DATABASE_NAME is unchanged"

counts=$(table_row_counts "$psql" "$LIBPQ_URL") || die "could not count the rows of database $DATABASE_NAME"
printf 'restored %s into database %s\n' "$input" "$DATABASE_NAME"
printf 'rows per table after the restore:\n'
print_row_counts "$counts"
