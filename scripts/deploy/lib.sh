# Shared by the scripts in scripts/deploy/ (sourced, never run): errors, tool lookup, URLs.
# shellcheck shell=bash

# The repository root, whatever directory the script was started from.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROGRAM="$(basename "$0")"

die() {
	printf '%s: error: %s\n' "$PROGRAM" "$*" >&2
	exit 1
}

# Wrong usage exits 2, as argument parsers do.
usage_error() {
	printf '%s: %s (see %s --help)\n' "$PROGRAM" "$*" "$PROGRAM" >&2
	exit 2
}

note() {
	printf '%s: %s\n' "$PROGRAM" "$*" >&2
}

# need_value OPTION "$@": the option's argument, or a usage error when it is missing.
need_value() {
	if [ "$#" -lt 2 ] || [ -z "$2" ] || [ "${2#--}" != "$2" ]; then
		usage_error "$1 needs a value"
	fi
}

# require_tool NAME WHY: fail with one line when NAME is not on PATH.
require_tool() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"
}

# PostgreSQL client programs: PATH first, then the Debian packages' versioned directories
# (CGA_PG_BIN_GLOB overrides where; newest version first).
find_pg_tool() {
	local name=$1 pattern candidate found=""
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		return 0
	fi
	pattern="${CGA_PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}/$name"
	# Unquoted on purpose: the pattern is a glob. Sorted by version, newest last.
	# shellcheck disable=SC2086
	for candidate in $(printf '%s\n' $pattern | sort -V); do
		[ -x "$candidate" ] && found=$candidate
	done
	[ -n "$found" ] || die "$name not found on PATH nor in ${CGA_PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}: install the PostgreSQL client (apt-get install postgresql-client)"
	printf '%s\n' "$found"
}

# The Python that has the project's packages: the virtualenv's, else python3.
project_python() {
	if [ -x "$REPO_ROOT/.venv/bin/python" ]; then
		printf '%s\n' "$REPO_ROOT/.venv/bin/python"
	else
		require_tool python3 "install Python 3, or create the virtualenv with make install"
		command -v python3
	fi
}

# Percent-decoding of one URL component (user names and passwords may be encoded).
url_decode() {
	local value=${1//\\/\\\\}
	printf '%b' "${value//%/\\x}"
}

# parse_database_url URL: converts an SQLAlchemy URL (postgresql+asyncpg://, postgres://,
# postgresql+psycopg://) into a libpq URL without its password, which is exported as PGPASSWORD
# so it never shows in the process list. Sets LIBPQ_URL and DATABASE_NAME.
parse_database_url() {
	local url=$1 scheme rest userinfo hostpart user password="" query=""
	[[ "$url" == *://* ]] || die "not a database URL: expected postgresql://user:password@host:port/dbname"
	scheme=${url%%://*}
	rest=${url#*://}
	case "$scheme" in
	postgresql | postgres | postgresql+asyncpg | postgresql+psycopg | postgresql+psycopg2) ;;
	*) die "unsupported database URL scheme '$scheme': expected postgresql:// or postgresql+asyncpg://" ;;
	esac
	if [[ "$rest" == *\?* ]]; then
		query=${rest#*\?}
		rest=${rest%%\?*}
		# asyncpg spells libpq's sslmode as ssl (ssl=true meaning require).
		query=$(printf '%s' "$query" | sed -E 's/(^|&)ssl=(true|True|1)(&|$)/\1sslmode=require\3/; s/(^|&)ssl=/\1sslmode=/')
	fi
	if [[ "$rest" == *@* ]]; then
		userinfo=${rest%@*}
		hostpart=${rest##*@}
		user=${userinfo%%:*}
		if [[ "$userinfo" == *:* ]]; then
			password=$(url_decode "${userinfo#*:}")
		fi
		rest="$user@$hostpart"
	fi
	if [[ "$rest" != */* ]] || [ -z "${rest##*/}" ]; then
		die "the database URL names no database (…/dbname)"
	fi
	# Results for the calling script.
	# shellcheck disable=SC2034
	DATABASE_NAME=$(url_decode "${rest##*/}")
	# shellcheck disable=SC2034
	LIBPQ_URL="postgresql://$rest${query:+?$query}"
	if [ -n "$password" ]; then
		export PGPASSWORD="$password"
	fi
	export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
}

# Exact row counts of every table of the public schema, one "table<TAB>rows" line each.
table_row_counts() {
	local psql=$1 url=$2
	"$psql" --no-psqlrc --quiet --tuples-only --no-align --field-separator=$'\t' \
		--set=ON_ERROR_STOP=1 --dbname="$url" --command="
		SELECT table_name,
		       (xpath('/row/n/text()',
		              query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name),
		                           false, true, '')))[1]::text::bigint
		FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
		ORDER BY table_name"
}

print_row_counts() {
	local counts=$1
	if [ -z "$counts" ]; then
		printf '  (no tables in schema public)\n'
		return
	fi
	printf '%s\n' "$counts" | awk -F'\t' '{ printf "  %-28s %12s\n", $1, $2 }'
}

human_size() {
	local bytes=$1
	awk -v b="$bytes" 'BEGIN {
		split("B KiB MiB GiB TiB", unit, " "); i = 1
		while (b >= 1024 && i < 5) { b /= 1024; i++ }
		printf (i == 1 ? "%d %s" : "%.1f %s"), b, unit[i]
	}'
}

# Prints a command as one line a person can paste into a shell.
print_command() {
	local quoted=() word
	for word in "$@"; do
		quoted+=("$(printf '%q' "$word")")
	done
	printf '%s\n' "${quoted[*]}"
}
